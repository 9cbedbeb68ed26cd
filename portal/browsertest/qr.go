package browsertest

import (
	"bytes"
	"fmt"
	"image"
	_ "image/png" // DecodeQR reads PNG screenshots and QR images
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DecodeQR returns the text of the QR code in a PNG image, such as the
// enrolment QR of a page screenshot, so a test can check what a phone
// would scan.
func DecodeQR(png []byte) (string, error) {
	img, format, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		return "", fmt.Errorf("browsertest: decode image: %w", err)
	}
	if !strings.EqualFold(format, "png") {
		return "", fmt.Errorf("browsertest: decode image: %s, not png", format)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		// A generated code alone on its image (what a page serves, not a
		// screenshot) reads reliably as a "pure" barcode, where the
		// finder-pattern search can miss.
		var perr error
		if res, perr = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}); perr != nil {
			return "", fmt.Errorf("browsertest: no QR code found: %w", err)
		}
	}
	return res.GetText(), nil
}
