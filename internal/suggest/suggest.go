// Package suggest finds the known word a user most likely meant, for "did
// you mean" hints in scenario, threshold and flag errors.
package suggest

import (
	"fmt"
	"strings"
)

// Closest returns the known word nearest to word by edit distance, ignoring
// case and the -/_ difference (at_least_once, message-size), and whether it
// is near enough to be a typo of it. A prefix of three or more letters
// ("drain" for drain_timeout) counts as near.
func Closest(word string, known []string) (string, bool) {
	w := norm(word)
	best, bestD := "", -1
	for _, k := range known {
		kn := norm(k)
		d := Distance(w, kn)
		if len(w) >= 3 && strings.HasPrefix(kn, w) && d > 2 {
			d = 2
		}
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 {
		return "", false
	}
	return best, bestD <= Limit(w)
}

// Limit is the largest edit distance still read as a typo of word.
func Limit(word string) int { return max(2, len([]rune(word))/3) }

func norm(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }

// Distance is the Levenshtein distance between a and b, in runes.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// List is the tail of an "unknown X" message: the likely intended value,
// then every valid one ("did you mean "queue"? (known: partitioned,
// queue)").
func List(word string, known []string) string {
	list := "known: " + strings.Join(known, ", ")
	if best, ok := Closest(word, known); ok {
		return fmt.Sprintf("did you mean %q? (%s)", best, list)
	}
	return list
}
