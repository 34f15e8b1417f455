package gen

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// BitLabsCSV writes a BitLabs user list: uid, country, languages,
// birthdate, gender, zipcode. Invalid rows have a birthdate that is no date,
// which our validation refuses before sending. Row i's uid is o.UID(i).
func BitLabsCSV(w io.Writer, o Options) (Stats, error) {
	return writeCSV(w, o, "uid,country,languages,birthdate,gender,zipcode", func(i int, invalid bool) string {
		birth := fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, i%12+1, i%28+1)
		if invalid {
			birth = "yesterday"
		}
		genders := []string{"MALE", "FEMALE", "OTHER"}
		countries := []string{"DE", "US", "FR", "IT"}
		return fmt.Sprintf("%s,%s,\"de,en\",%s,%s,%05d", o.UID(i), countries[i%len(countries)], birth, genders[i%3], i%100000)
	})
}

// UserpilotCSV writes a Userpilot user list: user_id, company_id and typed
// metadata. Invalid rows have no user_id.
func UserpilotCSV(w io.Writer, o Options) (Stats, error) {
	return writeCSV(w, o, "user_id,company_id,metadata.plan,metadata.seats,metadata.trial", func(i int, invalid bool) string {
		id := o.UID(i)
		if invalid {
			id = ""
		}
		return fmt.Sprintf("%s,company-%d,Pro,%d,%t", id, i%100, i%50, i%2 == 0)
	})
}

// DynamicCSV writes a Dynamic user list: id (36 characters), email, names,
// country, username and typed metadata. Invalid rows have a country that is
// no ISO code, which our validation refuses before sending. Row i's id is
// o.DynamicID(i) and its e-mail o.DynamicEmail(i).
func DynamicCSV(w io.Writer, o Options) (Stats, error) {
	return writeCSV(w, o, "id,email,firstName,lastName,country,username,metadata.plan,metadata.seats", func(i int, invalid bool) string {
		countries := []string{"DE", "US", "FR", "IT", "JP"}
		country := countries[i%len(countries)]
		if invalid {
			country = "Germany"
		}
		return fmt.Sprintf("%s,%s,First%d,Last%d,%s,user_%d,Pro,%d", o.DynamicID(i), o.DynamicEmail(i), i, i, country, i, i%50)
	})
}

// DynamicEmail is the e-mail of row i in the Dynamic lists. Dynamic keeps
// e-mails unique, so lists with other prefixes use other addresses.
func (o Options) DynamicEmail(i int) string {
	p := o.IDPrefix
	if p == "" {
		p = "u"
	}
	return fmt.Sprintf("%s%08d@example.com", p, i)
}

// DynamicID is the 36-character id of row i in the Dynamic lists, shaped
// like a UUID and unique per prefix.
func (o Options) DynamicID(i int) string {
	p := o.IDPrefix
	if p == "" {
		p = "u"
	}
	sum := fnv.New32a()
	_, _ = sum.Write([]byte(p))
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", sum.Sum32(), i)
}

// UID is the user id of row i in the BitLabs and Userpilot lists.
func (o Options) UID(i int) string {
	p := o.IDPrefix
	if p == "" {
		p = "u"
	}
	return fmt.Sprintf("%s%08d", p, i)
}

// VendorFile writes a list for a vendor ("nebuly", "bitlabs", "userpilot")
// to path.
func VendorFile(vendor, path string, o Options) (Stats, error) {
	if vendor == "nebuly" {
		return File(path, o)
	}
	f, err := os.Create(path)
	if err != nil {
		return Stats{}, fmt.Errorf("create %s: %w", path, err)
	}
	var st Stats
	switch vendor {
	case "bitlabs":
		st, err = BitLabsCSV(f, o)
	case "userpilot":
		st, err = UserpilotCSV(f, o)
	case "dynamic":
		st, err = DynamicCSV(f, o)
	default:
		err = fmt.Errorf("no generator for vendor %q", vendor)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", path, cerr)
	}
	return st, err
}

func writeCSV(w io.Writer, o Options, header string, row func(i int, invalid bool) string) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	fmt.Fprint(cw, header+"\n")
	st := Stats{Rows: o.Rows}
	for i := 0; i < o.Rows; i++ {
		inv := o.Invalid(i)
		if inv {
			st.Invalid++
		} else {
			st.Valid++
		}
		fmt.Fprint(cw, row(i, inv)+"\n")
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write generated CSV: %w", err)
	}
	st.Bytes = cw.n
	return st, cw.err
}
