package main

import (
	"context"
	"log/slog"

	"carevisit/cabinet"
)

// mailFunc is how the cabinet sends e-mail. Until SMTP is configured the
// message is not sent and the log says so (without the recipient's text).
func mailFunc(log *slog.Logger) cabinet.MailFunc {
	return func(ctx context.Context, to, subject, body string) error {
		log.Warn("e-mail not sent: no SMTP server configured (CAREVISIT_SMTP_HOST)", "subject", subject)
		return nil
	}
}
