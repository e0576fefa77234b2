package markdown

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAnchors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"punctuation dropped, spaces hyphenated", "## Checking you have every event\n### `prev_cursor` (added)", []string{"checking-you-have-every-event", "prev_cursor-added"}},
		{"repeats numbered", "# Errors\n## Errors\n## Errors", []string{"errors", "errors-1", "errors-2"}},
		{"fenced comments are no headings", "```sh\n# not a heading\n```\n# Real", []string{"real"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Anchors(tc.text)
			require.Len(t, got, len(tc.want))
			for _, a := range tc.want {
				require.True(t, got[a], "missing %q in %v", a, got)
			}
		})
	}
}
