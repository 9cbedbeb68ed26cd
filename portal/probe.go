package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ProbeAPI asks the push approval API at base (a push.urls entry, as
// devices reach it) whether it serves: a GET of AnswerPath, which the API
// (on push.listen and on the portal's origin alike) answers 405 with
// "Allow: POST", since it takes answers only. The probe reads nothing,
// changes nothing and spends no rate limit. The error says what answered
// instead, or why nothing did (a refused connection, a certificate the
// client does not trust).
func ProbeAPI(ctx context.Context, client *http.Client, base string) error {
	u := strings.TrimSuffix(base, "/") + AnswerPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("portal: probe %s: %w", base, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("portal: probe %s: %w", base, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), http.MethodPost) {
		return fmt.Errorf("portal: probe %s: GET %s answered %s, not the approval API's 405 (Allow: POST): is this the address of a node's push.listen or portal?", base, AnswerPath, resp.Status)
	}
	return nil
}
