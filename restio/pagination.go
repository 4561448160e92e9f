package restio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/valyala/fastjson"
)

// Pagination is the pagination block of APIRestOrigin.
type Pagination struct {
	Type           string `param:"type" default:"none" enum:"none,page,offset,cursor,next_url,link_header" doc:"How the API pages: none (one request), page (page numbers), offset (offset and limit), cursor (a cursor in each body, sent back as a parameter), next_url (the next page's URL in each body) or link_header (RFC 8288 Link: <...>; rel=\"next\")."`
	PageParam      string `param:"page_param" default:"page" doc:"page: the query parameter of the page number."`
	Start          *int   `param:"start" default:"1" doc:"page: the number of the first page."`
	SizeParam      string `param:"size_param" doc:"page: the query parameter of the page size (sent only when set)."`
	Size           int    `param:"size" doc:"page: the page size sent with size_param."`
	OffsetParam    string `param:"offset_param" default:"offset" doc:"offset: the query parameter of the offset of the first record (0, limit, 2·limit, ...)."`
	LimitParam     string `param:"limit_param" default:"limit" doc:"offset: the query parameter of the page size."`
	Limit          int    `param:"limit" default:"100" doc:"offset: the page size."`
	CursorPath     string `param:"cursor_path" doc:"cursor: dotted path of the next cursor in each response (meta.next_cursor)."`
	CursorParam    string `param:"cursor_param" default:"cursor" doc:"cursor: the query parameter that sends the cursor back."`
	NextPath       string `param:"next_path" doc:"next_url: dotted path of the next page's URL in each response (links.next); relative URLs are resolved against the page's."`
	TotalPath      string `param:"total_path" doc:"page, offset: dotted path of the total number of records in the first response; the page count follows from it, so concurrent fetches stop exactly at the last page."`
	TotalPagesPath string `param:"total_pages_path" doc:"page, offset: dotted path of the number of pages in the first response."`
	MaxPages       int    `param:"max_pages" doc:"Fetch at most this many pages (0: no limit)."`
}

// ParamType implements openstage.ParamTyper.
func (Pagination) ParamType() string { return "pagination object" }

func (p *Pagination) kind() string {
	if p.Type == "" {
		return "none"
	}
	return p.Type
}

func (p *Pagination) start() int {
	if p.Start == nil {
		return 1
	}
	return *p.Start
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (p *Pagination) limit() int {
	if p.Limit <= 0 {
		return 100
	}
	return p.Limit
}

// indexed reports whether page n's request is known in advance (page and
// offset), so that pages can be fetched concurrently.
func (p *Pagination) indexed() bool { return p.kind() == "page" || p.kind() == "offset" }

func (p *Pagination) check() error {
	k := p.kind()
	switch {
	case k == "cursor" && p.CursorPath == "":
		return fmt.Errorf("pagination: type cursor needs cursor_path, the dotted path of the next cursor in each response (meta.next_cursor)")
	case k == "next_url" && p.NextPath == "":
		return fmt.Errorf("pagination: type next_url needs next_path, the dotted path of the next page's URL in each response (links.next)")
	case (p.TotalPath != "" || p.TotalPagesPath != "") && !p.indexed():
		return fmt.Errorf("pagination: total_path and total_pages_path apply to types page and offset, not %s (its pages are found one after the other)", k)
	case p.TotalPath != "" && p.TotalPagesPath != "":
		return fmt.Errorf("pagination: give total_path or total_pages_path, not both")
	case p.Size < 0 || p.Limit < 0 || p.MaxPages < 0:
		return fmt.Errorf("pagination: size, limit and max_pages must not be negative")
	case k == "page" && p.Size > 0 && p.SizeParam == "":
		return fmt.Errorf("pagination: size needs size_param, the query parameter that sends it")
	}
	return nil
}

// fetcher fetches the pages of an APIRestOrigin.
type fetcher struct {
	c      *client
	method string
	base   *url.URL // url with params
	header http.Header
	body   []byte
	pg     *Pagination
}

// consumeFunc parses a page once and returns its number of records and,
// for a JSON document, its root (read before the next call).
type consumeFunc func(*page) (records int, root *fastjson.Value, err error)

func (f *fetcher) fetch(ctx context.Context, i int, u *url.URL) (*page, error) {
	resp, err := f.c.do(ctx, f.method, u, f.header, f.body, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("page %d: %w", i+1, err)
	}
	return &page{
		index:       i,
		where:       fmt.Sprintf("page %d (%s %s)", i+1, f.method, f.c.shownURL(u)),
		body:        resp.body,
		contentType: resp.header.Get("Content-Type"),
		links:       resp.header.Values("Link"),
		url:         resp.url,
	}, nil
}

func withParam(u *url.URL, kv ...string) *url.URL {
	v := *u
	q := v.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	v.RawQuery = q.Encode()
	return &v
}

// indexURL is the URL of page i (0-based) of a page or offset API.
func (f *fetcher) indexURL(i int) *url.URL {
	p := f.pg
	if p.kind() == "offset" {
		return withParam(f.base, orDefault(p.OffsetParam, "offset"), strconv.Itoa(i*p.limit()), orDefault(p.LimitParam, "limit"), strconv.Itoa(p.limit()))
	}
	kv := []string{orDefault(p.PageParam, "page"), strconv.Itoa(p.start() + i)}
	if p.SizeParam != "" && p.Size > 0 {
		kv = append(kv, p.SizeParam, strconv.Itoa(p.Size))
	}
	return withParam(f.base, kv...)
}

// run fetches every page in order and hands each to consume, until an
// empty page, the end of the links or cursors, max_pages or the page
// count, with up to conc requests at once for page and offset APIs.
func (f *fetcher) run(ctx context.Context, conc int, consume consumeFunc) error {
	if f.pg.indexed() {
		return f.runIndexed(ctx, max(1, conc), consume)
	}
	return f.runSequential(ctx, consume)
}

func (f *fetcher) runSequential(ctx context.Context, consume consumeFunc) error {
	p := f.pg
	u := f.base
	seen := map[string]bool{}
	for i := 0; p.MaxPages == 0 || i < p.MaxPages; i++ {
		pg, err := f.fetch(ctx, i, u)
		if err != nil {
			return err
		}
		n, root, err := consume(pg)
		if err != nil || n == 0 {
			return err
		}
		var next *url.URL
		switch p.kind() {
		case "none":
			return nil
		case "cursor":
			if root == nil {
				return fmt.Errorf("pagination: cursor_path needs a JSON document, but %s is newline-delimited JSON", pg.where)
			}
			cur := lookupString(root, splitPath(p.CursorPath))
			if cur == "" {
				return nil
			}
			if seen[cur] {
				return fmt.Errorf("pagination: %s gave cursor '%s' again: the API is looping; check cursor_path and cursor_param", pg.where, cur)
			}
			seen[cur] = true
			next = withParam(f.base, orDefault(p.CursorParam, "cursor"), cur)
		case "next_url", "link_header":
			var ref string
			if p.kind() == "next_url" {
				if root == nil {
					return fmt.Errorf("pagination: next_path needs a JSON document, but %s is newline-delimited JSON", pg.where)
				}
				ref = lookupString(root, splitPath(p.NextPath))
			} else {
				ref, _ = nextLink(pg.links)
			}
			if ref == "" {
				return nil
			}
			r, err := url.Parse(ref)
			if err != nil {
				return fmt.Errorf("pagination: %s links to '%s', which is not a URL", pg.where, ref)
			}
			next = pg.url.ResolveReference(r)
			if next.Scheme != "http" && next.Scheme != "https" {
				return fmt.Errorf("pagination: %s links to '%s', which is not an http or https URL", pg.where, f.c.shownURL(next))
			}
			key := next.String()
			if seen[key] || key == pg.url.String() {
				return fmt.Errorf("pagination: %s links to %s again: the API is looping", pg.where, f.c.shownURL(next))
			}
			seen[key] = true
		}
		u = next
	}
	return nil
}

// runIndexed fetches page and offset APIs. With a total in the first
// response, the page count is known and exactly those pages are fetched;
// otherwise pages are requested ahead, up to conc at once, and the first
// empty page ends the download (the requests beyond it are cancelled and
// their answers dropped). Pages reach consume in page order whatever order
// they arrive in.
func (f *fetcher) runIndexed(ctx context.Context, conc int, consume consumeFunc) error {
	p := f.pg
	count := -1 // unknown
	first := 0
	if p.MaxPages > 0 {
		count = p.MaxPages
	}
	// per is the number of records a full page holds, when known: a
	// non-empty page with fewer than that followed by records means the
	// API caps the page size below what was asked, and rows were skipped.
	per := 0
	switch {
	case p.kind() == "offset":
		per = p.limit()
	case p.SizeParam != "" && p.Size > 0:
		per = p.Size
	}
	short := -1 // index of the first page shorter than per
	check := func(pg *page, n int) error {
		if short >= 0 && n > 0 {
			return fmt.Errorf("pagination: page %d held fewer records than the page size %d, yet %s has more: the API caps the page size; lower %s to what it returns", short+1, per, pg.where, map[bool]string{true: "limit", false: "size"}[p.kind() == "offset"])
		}
		if per > 0 && n < per && short < 0 {
			short = pg.index
		}
		return nil
	}
	if p.TotalPath != "" || p.TotalPagesPath != "" {
		pg, err := f.fetch(ctx, 0, f.indexURL(0))
		if err != nil {
			return err
		}
		n, root, err := consume(pg)
		if err != nil || n == 0 {
			return err
		}
		if root == nil {
			return fmt.Errorf("pagination: total_path needs a JSON document, but %s is newline-delimited JSON", pg.where)
		}
		pages, err := pageCount(p, root, n, per, pg.where)
		if err != nil {
			return err
		}
		if count < 0 || pages < count {
			count = pages
		}
		if err := check(pg, n); err != nil {
			return err
		}
		first = 1
	}

	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		pg  *page
		err error
	}
	slots := make(chan chan result, conc)
	// sem bounds the pages requested and not yet consumed: at most conc
	// requests in flight, and at most conc pages in memory.
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(slots)
		for i := first; count < 0 || i < count; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s := make(chan result, 1)
			select {
			case slots <- s:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				pg, err := f.fetch(ctx, i, f.indexURL(i))
				s <- result{pg, err}
			}()
		}
	}()
	stop := func() {
		cancel()
		for range slots {
		}
		wg.Wait()
	}
	for s := range slots {
		r := <-s
		if r.err != nil {
			stop()
			return r.err
		}
		n, _, err := consume(r.pg)
		if err == nil {
			err = check(r.pg, n)
		}
		if err != nil || n == 0 {
			stop()
			return err
		}
		<-sem
	}
	stop()
	return nil
}

// pageCount reads the page count from the first response.
func pageCount(p *Pagination, root *fastjson.Value, firstRecords, per int, where string) (int, error) {
	if p.TotalPagesPath != "" {
		n, ok := lookupInt(root, splitPath(p.TotalPagesPath))
		if !ok {
			return 0, fmt.Errorf("pagination: total_pages_path '%s' is not a number in the response of %s", p.TotalPagesPath, where)
		}
		return int(n), nil
	}
	total, ok := lookupInt(root, splitPath(p.TotalPath))
	if !ok {
		return 0, fmt.Errorf("pagination: total_path '%s' is not a number in the response of %s", p.TotalPath, where)
	}
	if per <= 0 {
		per = firstRecords // the first page is full unless it is the only one
	}
	return int((total + int64(per) - 1) / int64(per)), nil
}
