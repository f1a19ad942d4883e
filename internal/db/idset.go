package db

import (
	"strconv"
	"strings"
)

// IDSet is the SQL list "(1,2,3)" of ids, for `WHERE x IN ` + IDSet(ids):
// numbers only, so it is safe to write into a statement, and one statement
// serves any count on both engines. ids must not be empty.
func IDSet(ids []int64) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte(')')
	return b.String()
}
