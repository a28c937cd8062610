// Package plural spells counts in English ("1 subscription", "2
// subscriptions") for every message and report mqcheck writes.
package plural

import "strconv"

// Word is singular when n is 1 and singular+"s" otherwise: every noun
// mqcheck counts takes a plain s.
func Word(n int64, singular string) string {
	if n == 1 || n == -1 {
		return singular
	}
	return singular + "s"
}

// Of is n and its noun: "1 subscription", "0 examples".
func Of[N ~int | ~int64 | ~uint64](n N, singular string) string {
	return strconv.FormatInt(int64(n), 10) + " " + Word(int64(n), singular)
}
