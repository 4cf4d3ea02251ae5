package main

import (
	"context"
	"log/slog"

	"carevisit/cabinet"
	"carevisit/mailer"
)

// mailFuncs adapt the SMTP mailer to the cabinet's senders. Without SMTP
// configuration (CAREVISIT_SMTP_HOST) nothing is sent and the log says so
// (with the subject only: bodies carry personal data and links).
func mailFuncs(m *mailer.Mailer, log *slog.Logger) (cabinet.MailFunc, cabinet.MailAttachFunc) {
	if m == nil {
		warn := func(subject string) error {
			log.Warn("e-mail not sent: no SMTP server configured (CAREVISIT_SMTP_HOST)", "subject", subject)
			return nil
		}
		return func(_ context.Context, _, subject, _ string) error { return warn(subject) },
			func(_ context.Context, _, subject, _ string, _ []cabinet.Attachment) error { return warn(subject) }
	}
	send := func(ctx context.Context, to, subject, body string, att []cabinet.Attachment) error {
		msg := mailer.Message{To: []string{to}, Subject: subject, Text: body}
		for _, a := range att {
			msg.Attachments = append(msg.Attachments, mailer.Attachment{Name: a.Name, ContentType: a.ContentType, Data: a.Data})
		}
		return m.Send(ctx, msg)
	}
	return func(ctx context.Context, to, subject, body string) error { return send(ctx, to, subject, body, nil) }, send
}
