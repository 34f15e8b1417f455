package dynamic

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

const (
	idA = "5b2a9f3e-8c1d-4e7a-9b6f-0d3c2e1a4f5b"
	idB = "6c3b0a4f-9d2e-4f8b-8c7a-1e4d3f2b5a6c"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestFromFieldsAccepts(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   User
	}{
		{
			name:   "csv: e-mail only, trimmed",
			fields: map[string]any{"email": "  Jane.Doe@Example.com ", "favourite_colour": "teal"},
			want:   User{Email: "Jane.Doe@Example.com"},
		},
		{
			name: "csv: every field",
			fields: map[string]any{
				"id": idA, "alias": "jd", "firstName": "Jane", "lastName": "Doe", "jobTitle": "CTO",
				"phoneNumber": "+1 555 0100", "tShirtSize": "M", "team": "core", "email": "jane@example.com",
				"username": "jane_doe-1", "country": "de", "mfaBackupCodeAcknowledgement": "Complete",
				"policiesConsent": "yes", "emailNotification": "0", "discordNotification": "FALSE",
				"newsletterNotification": "", "emailVerifiedAt": "2023-11-07",
				"btcWallet": "3FZbgi29cpjq2GjdwV8eyHuJJnkLtktZc5", "kdaWallet": "k:0123", "ltcWallet": "LUttH43",
				"ckbWallet": "ckt1q98", "kasWallet": "kaspa:qrel", "dogeWallet": "DPcy35vm",
				"metadata.plan": "pro", "metadata.seats": "3", "metadata.prefs.theme": "dark", "metadata.empty": "",
				"wallets":       `[{"publicWalletAddress":"0xbF39","chain":"ETH","walletName":"metamask","walletProvider":"browserExtension","additionalWalletAddresses":[{"address":"bc1p","type":"ordinals","publicKey":"02ab"}]}]`,
				"oauthAccounts": `[{"provider":"google","accountId":"g-123","emails":["jane@example.com"],"displayName":"Jane D","username":"janed","photos":["https://img/1"],"profile":{"locale":"en","age":30}}]`,
			},
			want: User{
				ID: idA, Alias: "jd", FirstName: "Jane", LastName: "Doe", JobTitle: "CTO", PhoneNumber: "+1 555 0100",
				TShirtSize: "M", Team: "core", Email: "jane@example.com", Username: "jane_doe-1", Country: "DE",
				MFABackupCodeAcknowledgement: "complete", PoliciesConsent: yes(), EmailNotification: no(),
				DiscordNotification: no(), EmailVerifiedAt: "2023-11-07T00:00:00Z",
				BtcWallet: "3FZbgi29cpjq2GjdwV8eyHuJJnkLtktZc5", KdaWallet: "k:0123", LtcWallet: "LUttH43",
				CkbWallet: "ckt1q98", KasWallet: "kaspa:qrel", DogeWallet: "DPcy35vm",
				Metadata: map[string]any{"plan": "pro", "seats": "3", "prefs": map[string]any{"theme": "dark"}},
				Wallets: []Wallet{{PublicWalletAddress: "0xbF39", Chain: "ETH", WalletName: "metamask", WalletProvider: "browserExtension",
					AdditionalWalletAddresses: []AdditionalAddress{{Address: "bc1p", Type: "ordinals", PublicKey: "02ab"}}}},
				OAuthAccounts: []OAuthAccount{{Provider: "google", AccountID: "g-123", Emails: []string{"jane@example.com"},
					DisplayName: "Jane D", Username: "janed", Photos: []string{"https://img/1"},
					Profile: map[string]any{"locale": "en", "age": json.Number("30")}}},
			},
		},
		{
			name: "ndjson: typed values and lists",
			fields: map[string]any{
				"id": idB, "policiesConsent": true, "emailNotification": json.Number("1"), "newsletterNotification": false,
				"emailVerifiedAt": "2023-11-07T07:31:56.5+02:00",
				"metadata.seats":  json.Number("3"), "metadata.active": true, "metadata.tags": []any{"a", json.Number("2")},
				"metadata.score": 1.5, "metadata.nothing": nil,
				"wallets":       []any{map[string]any{"publicWalletAddress": "0x1", "chain": "SOL"}},
				"oauthAccounts": []any{map[string]any{"provider": "discord", "accountId": "d-1", "emails": []any{}}},
			},
			want: User{
				ID: idB, PoliciesConsent: yes(), EmailNotification: yes(), NewsletterNotification: no(),
				EmailVerifiedAt: "2023-11-07T05:31:56.5Z",
				Metadata: map[string]any{"seats": json.Number("3"), "active": true,
					"tags": []any{"a", json.Number("2")}, "score": json.Number("1.5")},
				Wallets:       []Wallet{{PublicWalletAddress: "0x1", Chain: "SOL"}},
				OAuthAccounts: []OAuthAccount{{Provider: "discord", AccountID: "d-1"}},
			},
		},
		{
			name: "metadata object in a CSV cell, with columns beside it",
			fields: map[string]any{"email": "a@example.com", "metadata": `{"plan":"pro","limits":{"seats":5}}`,
				"metadata.limits.projects": "2"},
			want: User{Email: "a@example.com", Metadata: map[string]any{"plan": "pro",
				"limits": map[string]any{"seats": json.Number("5"), "projects": "2"}}},
		},
		{
			name:   "empty values are left out",
			fields: map[string]any{"id": idA, "firstName": " ", "country": "", "wallets": "", "oauthAccounts": nil, "metadata.plan": "", "policiesConsent": ""},
			want:   User{ID: idA},
		},
		{
			name: "limits are inclusive, and count UTF-16 units",
			fields: map[string]any{"id": idA, "firstName": strings.Repeat("é", 255),
				"lastName": strings.Repeat("😀", 127) + "x", "mfaBackupCodeAcknowledgement": "PENDING", "country": "us"},
			want: User{ID: idA, FirstName: strings.Repeat("é", 255), LastName: strings.Repeat("😀", 127) + "x",
				MFABackupCodeAcknowledgement: "pending", Country: "US"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromFields(tc.fields)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tc.want)
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestFromFieldsRefuses(t *testing.T) {
	long := strings.Repeat("q", 256)
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"id": idA}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"no id or email", map[string]any{"firstName": "Jane", "email": " "}, "neither id nor email"},
		{"short id", map[string]any{"id": idA[:35]}, "id is 35 characters long; Dynamic user ids are exactly 36"},
		{"long id", map[string]any{"id": idA + "x", "email": "a@example.com"}, "id is 37 characters long"},
		{"id as a list", map[string]any{"id": []any{idA}}, "id is a list; want text"},
		{"e-mail without @", map[string]any{"email": "jane.example.com"}, "email does not look like an e-mail address"},
		{"e-mail with a display name", map[string]any{"email": "Jane <jane@example.com>"}, "email does not look like"},
		{"e-mail with a quoted local part", map[string]any{"email": `"jane doe"@example.com`}, "email does not look like"},
		{"e-mail with a comment", map[string]any{"email": "jane@example.com (work)"}, "email does not look like"},
		{"e-mail too long", map[string]any{"email": long + "@example.com"}, "email is 268 characters long; Dynamic takes at most 255"},
		{"text too long", base(map[string]any{"firstName": long}), "firstName is 256 characters long"},
		{"emoji count twice", base(map[string]any{"lastName": strings.Repeat("😀", 128)}), "lastName is 256 characters long"},
		{"wallet string too long", base(map[string]any{"dogeWallet": long}), "dogeWallet is 256 characters long"},
		{"text as an object", base(map[string]any{"team": map[string]any{"x": "y"}}), "team is an object; want text"},
		{"reserved country code", base(map[string]any{"country": "UK"}), "country is not an assigned ISO 3166-1 alpha-2"},
		{"user-assigned country code", base(map[string]any{"country": "XK"}), "country is not an assigned"},
		{"alpha-3 country code", base(map[string]any{"country": "deu"}), "country is not an assigned"},
		{"username with a space", base(map[string]any{"username": "jane doe"}), "username may hold only letters, digits, dashes and underscores"},
		{"username with an accent", base(map[string]any{"username": "janë"}), "username may hold only"},
		{"mfa state", base(map[string]any{"mfaBackupCodeAcknowledgement": "acknowledged"}), "mfaBackupCodeAcknowledgement must be pending or complete"},
		{"boolean text", base(map[string]any{"policiesConsent": "maybe"}), "policiesConsent is not a boolean"},
		{"boolean number", base(map[string]any{"emailNotification": json.Number("2")}), "emailNotification is not a boolean"},
		{"boolean list", base(map[string]any{"discordNotification": []any{true}}), "discordNotification is a list"},
		{"date in another format", base(map[string]any{"emailVerifiedAt": "07/11/2023"}), "emailVerifiedAt is not a date-time"},
		{"date-time without zone", base(map[string]any{"emailVerifiedAt": "2024-01-02T03:04:05"}), "emailVerifiedAt is not a date-time"},
		{"metadata not JSON", base(map[string]any{"metadata": "plan=pro"}), "metadata is not a JSON object"},
		{"metadata a JSON list", base(map[string]any{"metadata": `["pro"]`}), "metadata is not a JSON object"},
		{"metadata a number", base(map[string]any{"metadata": json.Number("4")}), "metadata is a number; want an object"},
		{"metadata key clash", base(map[string]any{"metadata.plan": "pro", "metadata.plan.tier": "gold"}), `metadata field "metadata.plan.tier" nests under "plan", which already holds a string`},
		{"metadata given twice", base(map[string]any{"metadata": `{"plan":"pro"}`, "metadata.plan": "basic"}), `metadata field "metadata.plan" is given twice`},
		{"metadata empty key", base(map[string]any{"metadata..plan": "pro"}), "has an empty key"},
		{"metadata bad number", base(map[string]any{"metadata.n": json.Number("12abc")}), "metadata.n is not a valid number"},
		{"metadata infinite", base(map[string]any{"metadata.n": math.Inf(1)}), "metadata.n is not a finite number"},
		{"metadata odd type", base(map[string]any{"metadata.n": struct{}{}}), "which JSON cannot carry"},
		{"wallets not JSON", base(map[string]any{"wallets": "0xabc on ETH"}), "wallets is not a JSON array of wallet objects"},
		{"wallets an object in a cell", base(map[string]any{"wallets": `{"chain":"ETH"}`}), "wallets is not a JSON array"},
		{"wallets flattened from an object", base(map[string]any{"wallets.chain": "ETH"}), "wallets is an object; want a list of wallet objects"},
		{"wallet not an object", base(map[string]any{"wallets": []any{"0xabc"}}), "wallets[0] is a string; want a wallet object"},
		{"wallet unknown sub-field", base(map[string]any{"wallets": `[{"publicWalletAddress":"0x1","chain":"ETH","walletAddress":"0x1"}]`}), `wallets[0] has an unknown sub-field "walletAddress"; Dynamic takes publicWalletAddress, chain`},
		{"wallet without chain", base(map[string]any{"wallets": `[{"publicWalletAddress":"0x1"}]`}), "wallets[0].chain is required"},
		{"wallet address too long", base(map[string]any{"wallets": []any{map[string]any{"publicWalletAddress": long, "chain": "ETH"}}}), "wallets[0].publicWalletAddress is 256 characters long"},
		{"additional address without type", base(map[string]any{"wallets": `[{"publicWalletAddress":"0x1","chain":"BTC","additionalWalletAddresses":[{"address":"bc1"}]}]`}), "wallets[0].additionalWalletAddresses[0].type is required"},
		{"additional address unknown sub-field", base(map[string]any{"wallets": `[{"publicWalletAddress":"0x1","chain":"BTC","additionalWalletAddresses":[{"address":"bc1","type":"payment","label":"x"}]}]`}), `additionalWalletAddresses[0] has an unknown sub-field "label"`},
		{"additional addresses not a list", base(map[string]any{"wallets": `[{"publicWalletAddress":"0x1","chain":"BTC","additionalWalletAddresses":"bc1"}]`}), "wallets[0].additionalWalletAddresses is a string; want a list of address objects"},
		{"oauth without accountId", base(map[string]any{"oauthAccounts": `[{"provider":"google"}]`}), "oauthAccounts[0].accountId is required"},
		{"oauth unknown sub-field", base(map[string]any{"oauthAccounts": `[{"provider":"google","accountId":"1","accessToken":"t"}]`}), `oauthAccounts[0] has an unknown sub-field "accessToken"`},
		{"oauth emails not strings", base(map[string]any{"oauthAccounts": `[{"provider":"google","accountId":"1","emails":[1]}]`}), "oauthAccounts[0].emails[0] is a number; want a string"},
		{"oauth photos not a list", base(map[string]any{"oauthAccounts": `[{"provider":"google","accountId":"1","photos":"https://img"}]`}), "oauthAccounts[0].photos is a string; want a list of strings"},
		{"oauth profile not an object", base(map[string]any{"oauthAccounts": `[{"provider":"google","accountId":"1","profile":"x"}]`}), "oauthAccounts[0].profile is a string; want an object"},
		{"oauth accountId too long", base(map[string]any{"oauthAccounts": []any{map[string]any{"provider": "google", "accountId": long}}}), "oauthAccounts[0].accountId is 256 characters long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := FromFields(tc.fields)
			if err == nil {
				t.Fatalf("accepted: %+v", u)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			// The key fields come back even when the row is refused.
			if id, _ := tc.fields["id"].(string); id != "" && u.ID != strings.TrimSpace(id) {
				t.Errorf("refused user lost its id")
			}
			if email, _ := tc.fields["email"].(string); strings.TrimSpace(email) != "" && len(email) <= MaxText && u.Email != strings.TrimSpace(email) {
				t.Errorf("refused user lost its email")
			}
			for _, v := range leaves(tc.fields) {
				if len(v) >= 5 && strings.Contains(err.Error(), v) {
					t.Errorf("error %q quotes the value %q", err, v)
				}
			}
		})
	}
}

// leaves lists the string values inside fields, JSON text cells included.
func leaves(fields map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
			var inner any
			if json.Unmarshal([]byte(x), &inner) == nil {
				if _, isText := inner.(string); !isText {
					walk(inner)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, v := range fields {
		walk(v)
	}
	return out
}

func TestKey(t *testing.T) {
	if k := (User{ID: idA, Email: "Jane@Example.com"}).Key(); k != idA {
		t.Errorf("with an id: %q", k)
	}
	if k := (User{Email: "Jane@Example.com"}).Key(); k != "jane@example.com" {
		t.Errorf("e-mail only: %q", k)
	}
}

func TestJSONSendsFalseAndLeavesEmptiesOut(t *testing.T) {
	u, err := FromFields(map[string]any{"email": "a@example.com", "policiesConsent": "no", "firstName": "",
		"wallets": `[{"publicWalletAddress":"0x1","chain":"ETH"}]`})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"policiesConsent":false,"email":"a@example.com","wallets":[{"publicWalletAddress":"0x1","chain":"ETH"}]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestCountryTableHoldsTheAssignedCodes(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if isCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 || len(assignedCountries) != 2*249 {
		t.Fatalf("%d codes assigned (table %d bytes), want 249", n, len(assignedCountries))
	}
	for _, c := range []string{"US", "DE", "GB", "SS", "CW", "SX", "BQ", "AX", "ZW"} {
		if !isCountry(c) {
			t.Errorf("%s missing", c)
		}
	}
	for _, c := range []string{"UK", "EU", "XK", "AA", "ZZ", "AN", "YU", "CS", "us", "D", "DEU"} {
		if isCountry(c) {
			t.Errorf("%s accepted", c)
		}
	}
	// Unicode case folding must not turn a look-alike into a code.
	if _, err := FromFields(map[string]any{"id": idA, "country": "uſ"}); err == nil {
		t.Error("a non-ASCII look-alike passed as a country code")
	}
}

func TestValidEnvironmentID(t *testing.T) {
	if err := ValidEnvironmentID(idA); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "abc", idA + "0", " " + idA} {
		err := ValidEnvironmentID(id)
		if err == nil || !strings.Contains(err.Error(), "exactly 36") {
			t.Errorf("%q: %v", id, err)
		}
	}
	if err := ValidEnvironmentID(" " + idA); !strings.Contains(err.Error(), "spaces") {
		t.Errorf("no hint about spaces: %v", err)
	}
}
