package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"twostep/cluster"
)

// "My Settings & Devices": the user's devices, renamed, removed (each
// removal confirmed by a second factor), and the default one for
// automatic pushes.

func (p *Portal) deviceRoutes(mux *http.ServeMux) {
	signedIn := cluster.StageSignedIn
	mux.HandleFunc("GET /devices", p.withSession(p.devicesPage, signedIn, cluster.StageEnroll))
	mux.HandleFunc("POST /devices/rename", p.withSession(p.rename, signedIn))
	mux.HandleFunc("POST /devices/remove", p.withSession(p.remove, signedIn))
	mux.HandleFunc("POST /devices/default", p.withSession(p.setDefault, signedIn))
	p.enrollRoutes(mux)
}

// deviceView is one device as the pages show it.
type deviceView struct {
	ID       string
	Name     string
	Kind     string // in words
	Added    time.Time
	LastUsed time.Time
	Default  bool // gets automatic pushes
	Push     bool
	Serial   string
}

func viewOf(d cluster.Device, acct *cluster.Account) deviceView {
	v := deviceView{ID: d.ID, Name: d.Name, Added: d.Created, Serial: d.Serial, LastUsed: acct.Used[d.ID].At}
	switch {
	case d.Type == cluster.PushApp:
		v.Kind, v.Push = "Push (web authenticator)", true
		if pd, err := d.PushDevice(); err == nil && pd.Kind == "webhook" {
			v.Kind = "Push (app)"
		}
	case d.Serial != "":
		v.Kind = "Hardware token " + d.Serial
	case d.Type == cluster.TOTP:
		v.Kind = "Authenticator app"
	default:
		v.Kind = string(d.Type)
	}
	return v
}

// devicesData is the settings page's.
type devicesData struct {
	Devices []deviceView
}

// notices are the messages a redirect after a change asks for.
var notices = map[string]string{
	"added":   "Your new device is ready: use it at your next login.",
	"removed": "The device was removed. It no longer works anywhere.",
	"renamed": "The device was renamed.",
	"default": "Automatic pushes now go to the device you chose.",
}

func (p *Portal) devicesPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if s.Stage == cluster.StageEnroll {
		http.Redirect(w, r, "/devices/add", http.StatusSeeOther)
		return
	}
	p.renderDevices(w, r, s, http.StatusOK, "")
}

func (p *Portal) renderDevices(w http.ResponseWriter, r *http.Request, s *visit, status int, msg string) {
	acct, err := p.account(r, s)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	var data devicesData
	firstPush := true
	for _, d := range acct.Devices {
		v := viewOf(d, acct)
		data.Devices = append(data.Devices, v)
	}
	// The default is the chosen one, else the oldest push device.
	for i := range data.Devices {
		if data.Devices[i].Push && data.Devices[i].ID == acct.Profile.DefaultPush {
			data.Devices[i].Default, firstPush = true, false
		}
	}
	for i := range data.Devices {
		if firstPush && data.Devices[i].Push {
			data.Devices[i].Default, firstPush = true, false
		}
	}
	p.pages.render(w, status, "devices.html", &view{Title: "My Settings & Devices", User: s.User, CSRF: s.CSRF,
		Error: msg, Notice: notices[r.URL.Query().Get("done")], Data: data})
}

// maxDeviceName is cluster's bound on a device name.
const maxDeviceName = 32

// userError is an error whose text is written for the user and shown on
// the page as it is: a sentence that says what to do.
type userError string

func (e userError) Error() string { return string(e) }

// deviceName checks a name a user typed; the message says what to do.
func deviceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxDeviceName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", userError(fmt.Sprintf("Give the device a name of 1 to %d characters.", maxDeviceName))
	}
	return name, nil
}

func (p *Portal) rename(w http.ResponseWriter, r *http.Request, s *visit) {
	name, err := deviceName(r.PostFormValue("name"))
	if err != nil {
		p.renderDevices(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	err = p.as(r, s, "").RenameDevice(r.Context(), s.User, r.PostFormValue("device"), name)
	switch {
	case errors.Is(err, cluster.ErrDeviceName):
		p.renderDevices(w, r, s, http.StatusConflict, "You have a device with that name already: choose another.")
	case errors.Is(err, cluster.ErrNoDevice):
		p.renderDevices(w, r, s, http.StatusNotFound, "That device is gone.")
	case errors.Is(err, cluster.ErrConflict):
		p.renderDevices(w, r, s, http.StatusConflict, "Your devices changed meanwhile: try again.")
	case err != nil:
		p.unavailable(w, r, err)
	default:
		http.Redirect(w, r, "/devices?done=renamed", http.StatusSeeOther)
	}
}

// remove asks for a second factor before the device goes: whoever sat
// down at a signed-in browser must not be able to take the owner's
// devices away.
func (p *Portal) remove(w http.ResponseWriter, r *http.Request, s *visit) {
	acct, err := p.accounts.Load(r.Context(), s.User)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	id := r.PostFormValue("device")
	if _, ok := acct.Device(id); !ok {
		p.renderDevices(w, r, s, http.StatusNotFound, "That device is gone.")
		return
	}
	s.Pending, s.Push, s.Number = &cluster.SessionAction{Kind: "remove", Device: id}, "", ""
	if err := p.sessions.Update(r.Context(), s.Session); err != nil {
		p.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin/factor", http.StatusSeeOther)
}

// describePending says in words what a second factor confirms.
func (p *Portal) describePending(acct *cluster.Account, a *cluster.SessionAction) string {
	if a.Kind == "add" {
		return "Add a new device. Confirm with one of your devices or a bypass code first."
	}
	name := "a device that is gone"
	if d, ok := acct.Device(a.Device); ok {
		name = fmt.Sprintf("“%s”", d.Name)
	}
	return "Remove the device " + name + ". Confirm with another device, a passcode or a bypass code; the device you remove may confirm too."
}

// pendingPurpose is what a confirming push shows on the device.
func (p *Portal) pendingPurpose(r *http.Request, s *visit) string {
	if s.Pending.Kind == "add" {
		return "Add a new device"
	}
	name := "a device"
	if acct, err := p.accounts.Load(r.Context(), s.User); err == nil {
		if d, ok := acct.Device(s.Pending.Device); ok {
			name = fmt.Sprintf("“%s”", d.Name)
		}
	}
	return "Remove the device " + name
}

// confirmed carries out an action its second factor confirmed.
func (p *Portal) confirmed(w http.ResponseWriter, r *http.Request, s *visit, a *cluster.SessionAction) {
	switch a.Kind {
	case "add":
		http.Redirect(w, r, "/devices/add", http.StatusSeeOther)
		return
	case "remove":
	default:
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	d, err := p.as(r, s, "").RemoveDevice(r.Context(), s.User, a.Device)
	switch {
	case errors.Is(err, cluster.ErrNoDevice):
		http.Redirect(w, r, "/devices?done=removed", http.StatusSeeOther)
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	p.log.Info().Str("user", s.User).Str("device", d.ID).Str("remote", p.remoteIP(r)).Msg("portal: device removed")
	http.Redirect(w, r, "/devices?done=removed", http.StatusSeeOther)
}

func (p *Portal) setDefault(w http.ResponseWriter, r *http.Request, s *visit) {
	err := p.as(r, s, "").SetDefaultPush(r.Context(), s.User, r.PostFormValue("device"))
	switch {
	case errors.Is(err, cluster.ErrNoDevice):
		p.renderDevices(w, r, s, http.StatusNotFound, "Only a push device can get automatic pushes.")
	case err != nil:
		p.unavailable(w, r, err)
	default:
		http.Redirect(w, r, "/devices?done=default", http.StatusSeeOther)
	}
}
