// Package benchdata writes small orders.csv and users.csv files shaped like
// the peer benchmark's generator (shared/bench/gen.py, which lives outside
// the repository): quoted notes with commas and escaped quotes, empty notes,
// orders of users that do not exist. Tests use it to run the benchmark's job
// files (bench/jobs) on data that needs nothing beside the repository.
package benchdata

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Write writes dir/orders.csv with n orders and dir/users.csv with n/10
// users. The same n gives the same files.
func Write(dir string, n int) error {
	r := rand.New(rand.NewPCG(3, 4))
	countries := []string{"US", "DE", "GB", "FR", "IN", "BR", "JP"}
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	notes := []string{"", "", "gift wrap", `"fragile, handle with care"`, `"size ""XL"", blue"`}
	var b strings.Builder
	b.WriteString("order_id,user_id,country,age,amount,order_date,status,note\n")
	users := max(1, n/10)
	for i := 1; i <= n; i++ {
		cents := 1 + r.IntN(300000)
		fmt.Fprintf(&b, "%d,%d,%s,%d,%d.%02d,2024-%02d-%02d,%s,%s\n", i, 1+r.IntN(users+users/5), countries[r.IntN(len(countries))],
			10+r.IntN(81), cents/100, cents%100, 1+r.IntN(12), 1+r.IntN(28), statuses[r.IntN(4)], notes[r.IntN(len(notes))])
	}
	if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	b.Reset()
	b.WriteString("user_id,name,email,segment,active\n")
	for u := 1; u <= users; u++ {
		fmt.Fprintf(&b, "%d,User %d,u%d@example.com,%c,%t\n", u, u, u, "ABC"[r.IntN(3)], r.IntN(5) > 0)
	}
	return os.WriteFile(filepath.Join(dir, "users.csv"), []byte(b.String()), 0o644)
}
