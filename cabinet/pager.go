package cabinet

import (
	"net/url"
	"strconv"
)

// pager is a list's page navigation: the last page and the links to the
// previous and next pages, keeping the list's filters.
type pager struct {
	Page, Last       int
	PrevURL, NextURL string
}

func newPager(path string, filters url.Values, page, total, size int) pager {
	p := pager{Page: page, Last: max(1, (total+size-1)/size)}
	link := func(n int) string {
		q := url.Values{}
		for k, vs := range filters {
			q[k] = vs
		}
		q.Set("page", strconv.Itoa(n))
		return path + "?" + q.Encode()
	}
	if page > 1 {
		p.PrevURL = link(page - 1)
	}
	if page < p.Last {
		p.NextURL = link(page + 1)
	}
	return p
}
