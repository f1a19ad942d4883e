package status

import (
	"context"
	"time"
)

// When the page is rendered again. Readers never wait for a rendering
// when there is one to serve: a stale rendering (a change written on
// another node, or the TTL passed) is served while one background
// rendering replaces it. A change written on this node renders again
// before its writer goes on (Invalidate), so that whoever reads after
// the write sees it. Renderings are at least Coalesce apart, and one
// rendering covers every change made before it began: a burst of
// changes costs a few renderings, not one a change.

// renderTimeout bounds one rendering that no request waits for.
const renderTimeout = 30 * time.Second

// Invalidate drops what is cached and renders again before it returns:
// the writer of a change on this node calls it after its commit.
func (p *Page) Invalidate() {
	g := p.gen.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	_, _ = p.refresh(ctx, g) // a failure is logged, and the last rendering is served
}

// Expire marks what is cached stale and renders again in the background;
// readers are served the previous rendering until the new one is ready.
// It is for changes this node learns of from the event stream.
func (p *Page) Expire() {
	p.gen.Add(1)
	p.kick()
}

// rendering returns what to serve: the current rendering when fresh; a
// stale one while a background rendering replaces it; else (nothing
// rendered yet, or the database did not answer) a rendering made now.
func (p *Page) rendering(ctx context.Context) (*rendering, error) {
	r := p.cur.Load()
	if p.fresh(r) {
		return r, nil
	}
	if r != nil && !r.down {
		p.kick()
		return r, nil
	}
	return p.refresh(ctx, p.gen.Load())
}

// covers tells whether r shows every change up to generation g and is
// within its TTL.
func (p *Page) covers(r *rendering, g uint64) bool {
	return r != nil && r.gen >= g && p.opts.Now().Sub(r.at) < p.opts.TTL
}

// refresh renders again unless the current rendering covers generation
// g, at least Coalesce after the previous rendering ended.
func (p *Page) refresh(ctx context.Context, g uint64) (*rendering, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.cur.Load(); p.covers(r, g) {
		return r, nil
	}
	if wait := time.Until(p.renderedAt.Add(p.opts.Coalesce)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	gen := p.gen.Load() // before the snapshot: the rendering covers it
	r, err := p.render(ctx)
	p.renderedAt = time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		stale := p.stale()
		if stale == nil {
			return nil, err
		}
		p.opts.Log.Warn("status page: the database does not answer; serving the last rendering", "err", err)
		// Asked again in retryDown, not at every request.
		stale.gen, stale.at = gen, p.opts.Now().Add(retryDown-p.opts.TTL)
		p.cur.Store(stale)
		return stale, nil
	}
	r.gen = gen
	p.cur.Store(r)
	p.lastGood.Store(r)
	p.saveStatic(r)
	return r, nil
}

// kick starts a background rendering unless one is on its way; it
// renders again as long as changes arrived while it rendered.
func (p *Page) kick() {
	if !p.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
			_, err := p.refresh(ctx, p.gen.Load())
			cancel()
			if err != nil {
				p.opts.Log.Warn("status page: rendering", "err", err)
			}
			p.refreshing.Store(false)
			if r := p.cur.Load(); r == nil || r.gen >= p.gen.Load() || !p.refreshing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}
