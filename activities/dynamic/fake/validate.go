package fake

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The field rules below are the fake's own reading of Dynamic's API
// reference, written apart from the client's so that a client bug shows
// up as a failed user instead of agreeing with itself. Reasons name the
// field, never its value.

// Field kinds.
const (
	kindText     = iota // string, at most 255 characters
	kindNullText        // string or null, at most 255 characters
	kindBool
	kindObject
	kindList
)

var fieldKinds = map[string]int{
	"id": kindText, "alias": kindText, "firstName": kindText, "lastName": kindText, "jobTitle": kindText,
	"phoneNumber": kindText, "tShirtSize": kindText, "team": kindText, "email": kindText,
	"emailVerifiedAt":              kindText,
	"country":                      kindNullText,
	"username":                     kindNullText,
	"mfaBackupCodeAcknowledgement": kindNullText,
	"btcWallet":                    kindNullText, "kdaWallet": kindNullText, "ltcWallet": kindNullText,
	"ckbWallet": kindNullText, "kasWallet": kindNullText, "dogeWallet": kindNullText,
	"policiesConsent": kindBool, "emailNotification": kindBool, "discordNotification": kindBool,
	"newsletterNotification": kindBool,
	"metadata":               kindObject,
	"wallets":                kindList, "oauthAccounts": kindList,
}

// Enumerations from the API reference's schemas.
var (
	chains          = set("ETH", "EVM", "FLOW", "SOL", "ALGO", "STARK", "COSMOS", "BTC", "ECLIPSE", "SUI", "SPARK", "TRON", "APTOS", "TON", "STELLAR")
	walletProviders = set("browserExtension", "custodialService", "walletConnect", "qrCode", "deepLink", "embeddedWallet", "smartContractWallet")
	addressTypes    = set("ordinals", "payment", "cosmos", "evm", "ton")
	oauthProviders  = set("emailOnly", "magicLink", "apple", "bitbucket", "coinbasesocial", "discord", "epicgames",
		"facebook", "farcaster", "github", "gitlab", "google", "instagram", "linkedin", "microsoft", "twitch",
		"twitter", "blocto", "banxa", "coinbaseOnramp", "cryptoDotCom", "dynamic", "alchemy", "zerodev", "telegram",
		"turnkey", "coinbaseWaas", "sms", "spotify", "tiktok", "line", "steam", "shopify", "zksync", "kraken",
		"blockaid", "passkey", "okta", "sendgrid", "resend")
)

func set(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

// validate checks one user object; "" means valid.
func validate(m map[string]any) string {
	if len(m) == 0 {
		return "user must have at least one field"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nonNull := 0
	for _, k := range keys {
		v := m[k]
		kind, known := fieldKinds[k]
		if !known {
			return "property " + k + " should not exist"
		}
		if v != nil {
			nonNull++
		}
		if r := checkKind(k, kind, v); r != "" {
			return r
		}
	}
	if nonNull == 0 {
		return "user must have at least one field"
	}
	if id, ok := m["id"].(string); ok && jsLen(id) != 36 {
		return "id must be exactly 36 characters long"
	}
	if c, ok := m["country"].(string); ok && (len(c) != 2 || !countries[strings.ToUpper(c)]) {
		return "country must be a valid ISO 3166-1 alpha-2 country code"
	}
	if u, ok := m["username"].(string); ok && !usernameChars(u) {
		return "username must contain only letters, numbers, dashes and underscores"
	}
	if a, ok := m["mfaBackupCodeAcknowledgement"].(string); ok && a != "pending" && a != "complete" {
		return "mfaBackupCodeAcknowledgement must be one of the following values: pending, complete"
	}
	if e, ok := m["email"].(string); ok && !looksLikeEmail(e) {
		return "email must be an email"
	}
	if t, ok := m["emailVerifiedAt"].(string); ok {
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
			return "emailVerifiedAt must be a valid ISO 8601 date string"
		}
	}
	if ws, ok := m["wallets"].([]any); ok {
		for i, w := range ws {
			if r := checkWallet(fmt.Sprintf("wallets.%d", i), w); r != "" {
				return r
			}
		}
	}
	if as, ok := m["oauthAccounts"].([]any); ok {
		for i, a := range as {
			if r := checkOAuth(fmt.Sprintf("oauthAccounts.%d", i), a); r != "" {
				return r
			}
		}
	}
	return ""
}

func checkKind(name string, kind int, v any) string {
	switch kind {
	case kindText, kindNullText:
		if v == nil && kind == kindNullText {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			return name + " must be a string"
		}
		if jsLen(s) > 255 {
			return name + " must be shorter than or equal to 255 characters"
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return name + " must be a boolean value"
		}
	case kindObject:
		if _, ok := v.(map[string]any); !ok {
			return name + " must be an object"
		}
	case kindList:
		if _, ok := v.([]any); !ok {
			return name + " must be an array"
		}
	}
	return ""
}

// object checks a nested object's keys and string fields; req are
// required, opt optional, both strings of at most 255 characters.
func object(at string, v any, req, opt []string, other ...string) (map[string]any, string) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, at + " must be an object"
	}
	allowed := set(append(append(append([]string(nil), req...), opt...), other...)...)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !allowed[k] {
			return nil, at + ".property " + k + " should not exist"
		}
	}
	for _, k := range req {
		if s, isText := m[k].(string); m[k] == nil || (isText && s == "") {
			return nil, at + "." + k + " should not be empty"
		}
	}
	for _, k := range append(append([]string(nil), req...), opt...) {
		if m[k] == nil {
			continue
		}
		if r := checkKind(at+"."+k, kindText, m[k]); r != "" {
			return nil, r
		}
	}
	return m, ""
}

func checkWallet(at string, v any) string {
	m, r := object(at, v, []string{"publicWalletAddress", "chain"}, []string{"walletName", "walletProvider"}, "additionalWalletAddresses")
	if r != "" {
		return r
	}
	if !chains[m["chain"].(string)] {
		return at + ".chain must be one of the supported chains"
	}
	if p, ok := m["walletProvider"].(string); ok && !walletProviders[p] {
		return at + ".walletProvider must be one of the supported wallet providers"
	}
	switch extra := m["additionalWalletAddresses"].(type) {
	case nil:
	case []any:
		for j, a := range extra {
			am, r := object(fmt.Sprintf("%s.additionalWalletAddresses.%d", at, j), a, []string{"address", "type"}, []string{"publicKey"})
			if r != "" {
				return r
			}
			if !addressTypes[am["type"].(string)] {
				return fmt.Sprintf("%s.additionalWalletAddresses.%d.type must be one of: ordinals, payment, cosmos, evm, ton", at, j)
			}
		}
	default:
		return at + ".additionalWalletAddresses must be an array"
	}
	return ""
}

func checkOAuth(at string, v any) string {
	m, r := object(at, v, []string{"provider", "accountId"}, []string{"displayName", "username"}, "emails", "photos", "profile")
	if r != "" {
		return r
	}
	if !oauthProviders[m["provider"].(string)] {
		return at + ".provider must be one of the supported providers"
	}
	for _, k := range []string{"emails", "photos"} {
		switch list := m[k].(type) {
		case nil:
		case []any:
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return at + "." + k + " must contain only strings"
				}
				if k == "emails" && jsLen(s) > 255 {
					return at + ".emails must contain strings shorter than or equal to 255 characters"
				}
			}
		default:
			return at + "." + k + " must be an array"
		}
	}
	if p, ok := m["profile"]; ok && p != nil {
		if _, isObj := p.(map[string]any); !isObj {
			return at + ".profile must be an object"
		}
	}
	return ""
}

// jsLen is a string's length as JavaScript counts it (UTF-16 code units).
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

func usernameChars(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// looksLikeEmail is the usual server-side check: local@domain.tld with no
// spaces, one @, and dot-separated non-empty domain labels.
func looksLikeEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || strings.ContainsAny(s, " \t\r\n<>(),;") {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	return len(labels[len(labels)-1]) >= 2
}

// countries are the officially assigned ISO 3166-1 alpha-2 codes.
var countries = set(strings.Fields(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`)...)
