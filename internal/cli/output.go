package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jmespath-community/go-jmespath"
	"github.com/spf13/cobra"
)

// outputOptions are the global output flags, as az has them.
type outputOptions struct {
	format string // json, table, tsv, none
	query  string // JMESPath
}

func (o *outputOptions) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVarP(&o.format, "output", "o", "json", "output format: json, table, tsv or none")
	f.StringVar(&o.query, "query", "", "JMESPath query applied to the result (as az --query)")
}

// columns wraps a result with the columns its table shows, in order; JSON,
// TSV and --query see the whole result.
type columns struct {
	v    any
	cols []string
}

// print renders v in the chosen format.
func (o *outputOptions) print(w io.Writer, v any) error {
	var cols []string
	if c, ok := v.(columns); ok {
		v, cols = c.v, c.cols
		if o.query != "" {
			cols = nil
		}
	}
	// Round-trip through JSON so the query sees the wire shape.
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var data any
	if err := json.Unmarshal(raw, &data); err != nil {
		return err
	}
	if o.query != "" {
		if data, err = jmespath.Search(o.query, data); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--query: %w", err)}
		}
	}
	switch o.format {
	case "json", "":
		b, _ := json.MarshalIndent(data, "", "  ")
		fmt.Fprintln(w, string(b))
	case "none":
	case "tsv":
		for _, row := range rows(data) {
			fmt.Fprintln(w, strings.Join(row.values, "\t"))
		}
	case "table":
		if cols != nil {
			data = project(data, cols)
		}
		rs := rows(data)
		if len(rs) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if rs[0].header != nil {
			fmt.Fprintln(tw, strings.Join(rs[0].header, "\t"))
			var dashes []string
			for _, h := range rs[0].header {
				dashes = append(dashes, strings.Repeat("-", len(h)))
			}
			fmt.Fprintln(tw, strings.Join(dashes, "\t"))
		}
		for _, r := range rs {
			fmt.Fprintln(tw, strings.Join(r.values, "\t"))
		}
		tw.Flush()
	default:
		return &exitError{code: exitUsage, err: fmt.Errorf("unknown output format %q (json, table, tsv, none)", o.format)}
	}
	return nil
}

// project keeps the named fields of an object or a list of objects, in
// order (header order follows cols, not the alphabet).
func project(data any, cols []string) any {
	one := func(m map[string]any) orderedRow {
		r := orderedRow{}
		for _, c := range cols {
			r.keys, r.vals = append(r.keys, c), append(r.vals, scalar(m[c]))
		}
		return r
	}
	switch d := data.(type) {
	case []any:
		out := []any{}
		for _, it := range d {
			if m, ok := it.(map[string]any); ok {
				out = append(out, one(m))
			}
		}
		return out
	case map[string]any:
		return []any{one(d)}
	}
	return data
}

// orderedRow is a projected object whose columns keep their order.
type orderedRow struct{ keys, vals []string }

type row struct{ header, values []string }

// rows flattens a result for table and tsv output: a list of objects gives
// one row per object with the scalar fields as columns (az's rule); a
// single object gives one row; scalars give one value.
func rows(data any) []row {
	switch d := data.(type) {
	case []any:
		var keys []string
		seen := map[string]bool{}
		for _, it := range d {
			if m, ok := it.(map[string]any); ok {
				for _, k := range scalarKeys(m) {
					if !seen[k] {
						seen[k] = true
						keys = append(keys, k)
					}
				}
			}
		}
		var out []row
		for _, it := range d {
			if r, ok := it.(orderedRow); ok {
				out = append(out, row{header: r.keys, values: r.vals})
				continue
			}
			if m, ok := it.(map[string]any); ok {
				var vals []string
				for _, k := range keys {
					vals = append(vals, scalar(m[k]))
				}
				out = append(out, row{header: keys, values: vals})
			} else {
				out = append(out, row{values: []string{scalar(it)}})
			}
		}
		return out
	case map[string]any:
		if v, ok := d["value"].([]any); ok && len(d) <= 2 {
			return rows(v)
		}
		keys := scalarKeys(d)
		var vals []string
		for _, k := range keys {
			vals = append(vals, scalar(d[k]))
		}
		return []row{{header: keys, values: vals}}
	case nil:
		return nil
	}
	return []row{{values: []string{scalar(data)}}}
}

func scalarKeys(m map[string]any) []string {
	var keys []string
	for k, v := range m {
		switch v.(type) {
		case map[string]any, []any:
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
