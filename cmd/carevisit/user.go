package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"

	"carevisit/cabinet"
	"carevisit/store"
)

// cmdUser: `carevisit user add -email E -name N -role R [-org ID] [-password P]`.
// Without -password a random one is generated and printed once.
func cmdUser(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("user: want add -email E -name N -role platform|admin|supervisor|auditor [-org ID] [-password P]")
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	dsn := dbFlag(fs)
	email := fs.String("email", "", "e-mail (the login)")
	name := fs.String("name", "", "full name")
	role := fs.String("role", store.RoleAdmin, "platform, admin, supervisor, auditor")
	org := fs.Int64("org", 0, "organisation id (not for platform)")
	password := fs.String("password", "", "password (default: generated and printed)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || *name == "" {
		return fmt.Errorf("user add: -email and -name are required")
	}
	switch *role {
	case store.RolePlatform:
		*org = 0
	case store.RoleAdmin, store.RoleSupervisor, store.RoleAuditor:
		if *org == 0 {
			return fmt.Errorf("user add: -org is required for role %s", *role)
		}
	default:
		return fmt.Errorf("user add: unknown role %q", *role)
	}
	generated := *password == ""
	if generated {
		b := make([]byte, 12)
		rand.Read(b)
		*password = base64.RawURLEncoding.EncodeToString(b)
	}
	if len([]rune(*password)) < cabinet.MinPasswordLen {
		return fmt.Errorf("user add: the password must be at least %d characters", cabinet.MinPasswordLen)
	}
	st, err := openDB(ctx, *dsn, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	h, err := cabinet.HashPassword(*password)
	if err != nil {
		return err
	}
	id, err := st.AddUser(ctx, store.User{OrgID: *org, Email: strings.TrimSpace(*email), FullName: *name, Role: *role,
		PasswordHash: h, EmailConfirmed: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "user %d added: %s (%s)\n", id, *email, *role)
	if generated {
		fmt.Fprintf(out, "password: %s\n", *password)
	}
	return nil
}
