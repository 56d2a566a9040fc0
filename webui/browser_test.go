package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ondo-ai/ondo/internal/scripted"
	"github.com/ondo-ai/ondo/internal/testvocab"
	"github.com/ondo-ai/ondo/server"
)

// The page is driven in headless Chromium against a real server whose
// models are scripted (internal/scripted): each answers a fixed text, so
// the tests know what the page must show.

const chromiumPath = "/usr/bin/chromium"

// Scripts of the test models.
const (
	talkScript = "안녕하세요! 저는 **ondo**에서 돌아가는 모델입니다.\n\n" +
		"| 항목 | 값 |\n|---|---|\n| 언어 | 한국어 |\n| 속도 | 빠름 |\n\n" +
		"```go\nfunc main() {\n\tfmt.Println(\"안녕\")\n}\n```\n\n마지막 문장입니다."
	// Every way a Markdown answer could try to run script or fetch
	// from elsewhere; each would set window.pwned or open a dialog.
	xssScript = "Look: <img src=x onerror=\"window.pwned=1;alert(1)\"> and <script>window.pwned=2;alert(2)</script>\n\n" +
		"[click me](javascript:window.pwned=3;alert(3)) and <a href=\"javascript:window.pwned=4\">raw</a>\n\n" +
		"![tracker](http://203.0.113.9/a.png)\n\n" +
		"<iframe src=\"http://203.0.113.9/frame\"></iframe><svg onload=\"window.pwned=5\"></svg>\n\n" +
		"<div style=\"background:url(http://203.0.113.9/bg.png)\">styled</div> END"
	thinkScript = "<think>\n서울 날씨를 찾아야 한다.\n</think>\n\n" +
		"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}\n</tool_call>"
)

// fixture is the server and the browser the subtests share.
type fixture struct {
	ts      *testServer
	dir     string // the models folder
	vocab   string
	browser context.Context
}

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "templates", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakePuller "downloads" a model by writing a scripted one into the
// models folder, with progress on the way.
type fakePuller struct {
	dir, vocab, tmpl string
	t                *testing.T
}

func (p fakePuller) Pull(ctx context.Context, name string, progress func(server.PullProgress)) error {
	progress(server.PullProgress{Status: "pulling manifest"})
	const total = 4 << 20
	for done := int64(0); done <= total; done += 1 << 20 {
		progress(server.PullProgress{Status: "pulling 0123456789ab", Digest: "sha256:0123456789ab", Total: total, Completed: done})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	scripted.Write(p.t, p.vocab, filepath.Join(p.dir, name+".gguf"), p.tmpl, "pulled!")
	progress(server.PullProgress{Status: "success"})
	return nil
}

// newBrowser starts headless Chromium, or skips (fails under CI) when it
// is not installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: CI must install chromium (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s not found: install chromium to run the browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser, with no deadline on ctx.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

func TestBrowser(t *testing.T) {
	browser := newBrowser(t)
	dir := t.TempDir()
	vocab := testvocab.Llama3(t)
	llama := readTemplate(t, "meta-llama-Llama-3.1-8B-Instruct.jinja")
	scripted.Write(t, vocab, filepath.Join(dir, "talk.gguf"), llama, talkScript, scripted.Delay(30*time.Millisecond))
	scripted.Write(t, vocab, filepath.Join(dir, "xss.gguf"), llama, xssScript)
	scripted.Write(t, vocab, filepath.Join(dir, "think.gguf"), readTemplate(t, "Qwen-Qwen3-0.6B.jinja"), thinkScript)
	ts := startServer(t, server.Config{ModelsDir: dir, Parallel: 2,
		Puller: fakePuller{dir: dir, vocab: vocab, tmpl: llama, t: t}})
	f := &fixture{ts: ts, dir: dir, vocab: vocab, browser: browser}

	t.Run("stream, stop, reload, regenerate, edit", f.testConversation)
	t.Run("IME", f.testIME)
	t.Run("XSS", f.testXSS)
	t.Run("reasoning and tool calls", f.testReasoning)
	t.Run("conversations and copying", f.testConversations)
	t.Run("models", f.testModels)
	t.Run("API key", func(t *testing.T) { testAPIKey(t, f) })
	t.Run("accessibility", f.testAccessibility)
	t.Run("screenshots", f.testScreenshots)
}

// tab opens the page in a new tab of the shared browser, in lang (an
// Accept-Language such as "ko-KR"), with stored conversations cleared.
func (f *fixture) tab(t *testing.T, lang string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(f.browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) ondo-test", AcceptLanguage: lang}); err != nil {
		t.Fatal(err)
	}
	// Every Content-Security-Policy violation is recorded: the page
	// itself must cause none.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.cspViolations = []; document.addEventListener('securitypolicyviolation',
			e => cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber))`}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.cspViolations`)); err == nil && len(v) > 0 {
			t.Errorf("Content-Security-Policy violations: %q", v)
		}
	})
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(f.ts.url+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.clear(); sessionStorage.clear()`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("prompt")),
		// The model list has arrived.
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#model option[value="talk"]').length > 0`),
	))
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitIdle waits until no answer is being generated.
func waitIdle(t *testing.T, ctx context.Context) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`!document.getElementById('send').hidden && document.getElementById('stop').hidden && !document.querySelector('[aria-busy="true"]')`,
		chromedp.WithPollingTimeout(30*time.Second))))
}

func selectModel(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("model"), name),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('model').dispatchEvent(new Event('change'))`)))
}

// typeAndSend types text into the message box and presses Enter.
func typeAndSend(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	must(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("prompt")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}),
		pressEnter(13)))
}

// pressEnter presses and releases Enter with the given key code (229 is
// what browsers report while an IME composes).
func pressEnter(keyCode int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode, Text: "\r", UnmodifiedText: "\r"}
		if keyCode == 229 {
			down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeRawKeyDown, "", ""
		}
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp,
			Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode})
		return err
	})
}

type convState struct {
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
		Stopped bool   `json:"stopped"`
	} `json:"messages"`
	Title string `json:"title"`
	Model string `json:"model"`
}

// stored is the page's current conversation as kept in localStorage.
func stored(t *testing.T, ctx context.Context) convState {
	t.Helper()
	raw := eval[string](t, ctx, `JSON.stringify(JSON.parse(localStorage.getItem('ondo.conversations')).find(c => c.id === localStorage.getItem('ondo.current')))`)
	var c convState
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return c
}

func (f *fixture) testConversation(t *testing.T) {
	ctx := f.tab(t, "ko-KR")
	if got := eval[string](t, ctx, `document.getElementById('send').textContent + '|' + document.documentElement.lang`); got != "보내기|ko" {
		t.Errorf("Korean UI: send button and lang %q", got)
	}
	selectModel(t, ctx, "talk")
	chats := f.ts.chats.Load()
	cancelled := f.ts.cancelled.Load()
	const question = "안녕? 자기소개를 해 줘."
	typeAndSend(t, ctx, question)

	// The answer streams: it is seen growing several times.
	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 4 && time.Now().Before(deadline) {
		s := eval[string](t, ctx, `document.querySelector('#messages article.assistant:last-of-type .body')?.textContent.trim() ?? ''`)
		if s != "" && (len(seen) == 0 || s != seen[len(seen)-1]) {
			seen = append(seen, s)
		}
		time.Sleep(15 * time.Millisecond)
	}
	if len(seen) < 4 {
		t.Fatalf("the answer did not stream: saw %q", seen)
	}
	for i := 1; i < len(seen); i++ {
		if !strings.HasPrefix(seen[i], seen[i-1]) || len(seen[i]) <= len(seen[i-1]) {
			t.Errorf("the answer does not grow: %q then %q", seen[i-1], seen[i])
		}
	}
	if busy := eval[bool](t, ctx, `document.querySelector('#messages article.assistant').getAttribute('aria-busy') === 'true'`); !busy {
		t.Errorf("the streaming answer is not aria-busy")
	}

	// Stop it: the request is cancelled on the server.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("stop"))))
	waitIdle(t, ctx)
	waitFor(t, "the server to see the chat cancelled", func() bool { return f.ts.cancelled.Load() == cancelled+1 })
	if n := f.ts.chats.Load() - chats; n != 1 {
		t.Errorf("%d chat requests, want 1", n)
	}
	c := stored(t, ctx)
	if len(c.Messages) != 2 || c.Messages[0].Content != question || !c.Messages[1].Stopped ||
		c.Messages[1].Content == "" || !strings.HasPrefix(talkScript, c.Messages[1].Content) || c.Messages[1].Content == talkScript {
		t.Fatalf("after Stop: %+v", c)
	}
	if note := eval[string](t, ctx, `document.querySelector('#messages article.assistant .stats').textContent`); !strings.Contains(note, "멈춤") {
		t.Errorf("no stopped note: %q", note)
	}

	// Reload: the conversation is still there, in the list and open.
	must(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("prompt"))))
	if got := eval[string](t, ctx, `document.querySelector('#conversations .conv-open[aria-current="true"]')?.textContent ?? ''`); got != question {
		t.Errorf("conversation list after reload: %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#messages article.user .body').textContent`); got != question {
		t.Errorf("question after reload: %q", got)
	}

	// Regenerate: the stopped answer is replaced by a whole one.
	chats = f.ts.chats.Load()
	must(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelectorAll('#model option[value="talk"]').length > 0`),
		chromedp.Click(chromedp.CSS("#messages article.assistant .msg-regenerate"))))
	waitIdle(t, ctx)
	c = stored(t, ctx)
	if len(c.Messages) != 2 || c.Messages[1].Content != talkScript || c.Messages[1].Stopped {
		t.Fatalf("after Regenerate: %+v", c)
	}
	if n := f.ts.chats.Load() - chats; n != 1 {
		t.Errorf("Regenerate sent %d requests", n)
	}
	var req struct {
		Model    string              `json:"model"`
		Stream   bool                `json:"stream"`
		Messages []map[string]string `json:"messages"`
	}
	must(t, json.Unmarshal([]byte(f.ts.lastBody()), &req))
	if req.Model != "talk" || !req.Stream || len(req.Messages) != 1 || req.Messages[0]["content"] != question {
		t.Errorf("Regenerate's request: %s", f.ts.lastBody())
	}
	// The whole answer is rendered: a table, highlighted code with a
	// copy button, and the token counts.
	for js, want := range map[string]string{
		`document.querySelectorAll('#messages article.assistant table td').length`:                        "4",
		`document.querySelectorAll('#messages article.assistant pre code.hljs .hljs-keyword').length > 0`: "true",
		`document.querySelectorAll('#messages article.assistant .copy-code').length`:                      "1",
		`document.querySelector('#messages article.assistant strong').textContent`:                        "ondo",
	} {
		if got := fmt.Sprint(eval[any](t, ctx, js)); got != want {
			t.Errorf("%s = %s, want %s", js, got, want)
		}
	}
	stats := eval[string](t, ctx, `document.querySelector('#messages article.assistant .stats').textContent`)
	if !regexp.MustCompile(`프롬프트 \d+ 토큰 · 생성 \d+ 토큰 · 초당 [\d.]+ 토큰`).MatchString(stats) {
		t.Errorf("stats %q", stats)
	}

	// Edit the question and send it again: the conversation restarts
	// from there.
	const edited = "다시 물을게: 이름이 뭐야?"
	chats = f.ts.chats.Load()
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#messages article.user .msg-edit")),
		chromedp.WaitVisible(chromedp.CSS("#messages .edit-form textarea")),
		chromedp.SetValue(chromedp.CSS("#messages .edit-form textarea"), edited),
		chromedp.Click(chromedp.CSS("#messages .edit-form button[type=submit]"))))
	waitIdle(t, ctx)
	c = stored(t, ctx)
	if len(c.Messages) != 2 || c.Messages[0].Content != edited || c.Messages[1].Content != talkScript {
		t.Fatalf("after editing: %+v", c)
	}
	must(t, json.Unmarshal([]byte(f.ts.lastBody()), &req))
	if n := f.ts.chats.Load() - chats; n != 1 || len(req.Messages) != 1 || req.Messages[0]["content"] != edited {
		t.Errorf("editing sent %d requests, the last %s", n, f.ts.lastBody())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The Enter that confirms an IME composition is not a send.
func (f *fixture) testIME(t *testing.T) {
	ctx := f.tab(t, "ko-KR")
	selectModel(t, ctx, "xss") // answers at once
	// Record the keydowns as the page sees them.
	eval[chromedp.Void](t, ctx, `window.keys = []; document.getElementById('prompt').addEventListener('keydown',
		e => keys.push({key: e.key, keyCode: e.keyCode, isComposing: e.isComposing}), true)`)
	chats := f.ts.chats.Load()
	must(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("prompt")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: "안녕"}); err != nil {
				return err
			}
			// ㅎ → 하 → 한, as a Korean IME composes it.
			for _, s := range []string{"ㅎ", "하", "한"} {
				if _, err := chromedp.Call(ctx, input.ImeSetComposition, input.ImeSetCompositionParams{Text: s, SelectionStart: 1, SelectionEnd: 1}); err != nil {
					return err
				}
			}
			return nil
		}),
		// Enter while composing, then the IME commits the syllable.
		pressEnter(229),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: "한"})
			return err
		}),
		chromedp.Sleep(300*time.Millisecond),
	))
	keys := eval[[]map[string]any](t, ctx, `keys`)
	if len(keys) == 0 || keys[0]["keyCode"] != float64(229) || keys[0]["isComposing"] != true {
		t.Fatalf("the composing Enter reached the page as %v", keys)
	}
	if n := f.ts.chats.Load() - chats; n != 0 {
		t.Fatalf("the Enter that confirmed the composition sent %d messages", n)
	}
	if v := eval[string](t, ctx, `document.getElementById('prompt').value`); v != "안녕한" {
		t.Fatalf("message box %q, want the committed syllable in 안녕한", v)
	}
	// Enter again, not composing: sent, once.
	must(t, chromedp.Do(ctx, pressEnter(13)))
	waitIdle(t, ctx)
	time.Sleep(200 * time.Millisecond)
	if n := f.ts.chats.Load() - chats; n != 1 {
		t.Fatalf("Enter after the composition sent %d messages, want 1", n)
	}
	if c := stored(t, ctx); len(c.Messages) != 2 || c.Messages[0].Content != "안녕한" {
		t.Errorf("sent %+v", c)
	}
	// Safari's Enter after compositionend: keyCode 229 without
	// isComposing. Not a send either.
	typeAndSendWith := func(text string, keyCode int64) {
		t.Helper()
		must(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("prompt")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
				return err
			}),
			pressEnter(keyCode), chromedp.Sleep(200*time.Millisecond)))
	}
	eval[chromedp.Void](t, ctx, `keys.length = 0`)
	typeAndSendWith("세", 229)
	if keys := eval[[]map[string]any](t, ctx, `keys`); len(keys) == 0 || keys[0]["keyCode"] != float64(229) || keys[0]["isComposing"] != false {
		t.Errorf("the Enter reached the page as %v", keys)
	}
	if n := f.ts.chats.Load() - chats; n != 1 {
		t.Errorf("Enter with keyCode 229 sent a message")
	}
	// Shift+Enter is a new line, not a send.
	must(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: 13, Modifiers: 8, Text: "\r"})
		return err
	}), chromedp.Sleep(200*time.Millisecond)))
	if n := f.ts.chats.Load() - chats; n != 1 {
		t.Errorf("Shift+Enter sent a message")
	}
}

// Model output cannot run script or fetch from other hosts.
func (f *fixture) testXSS(t *testing.T) {
	ctx := f.tab(t, "en-US")
	var mu sync.Mutex
	var foreign []string
	dialogs := 0
	host := strings.TrimPrefix(f.ts.url, "http://")
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	opened := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			u, _ := url.Parse(ev.Request.URL)
			if u != nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "ws") && u.Host != host {
				mu.Lock()
				foreign = append(foreign, ev.Request.URL)
				mu.Unlock()
			}
		}
	}()
	go func() {
		for _, err := range opened {
			if err != nil {
				return
			}
			mu.Lock()
			dialogs++
			mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	selectModel(t, ctx, "xss")
	typeAndSend(t, ctx, "Show me some HTML")
	waitIdle(t, ctx)
	must(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('#messages article.assistant .body').textContent.includes('END')`)))
	// Click every link of the answer too.
	eval[chromedp.Void](t, ctx, `for (const a of document.querySelectorAll('#messages article.assistant .body a')) a.click()`)
	time.Sleep(500 * time.Millisecond)

	if got := eval[string](t, ctx, `typeof window.pwned`); got != "undefined" {
		t.Errorf("window.pwned is set: the answer ran script")
	}
	body := eval[string](t, ctx, `document.querySelector('#messages article.assistant .body').innerHTML`)
	// No element of the answer can load, run or style anything.
	bad := eval[[]string](t, ctx, `[...document.querySelectorAll('#messages article.assistant .body *')].flatMap(el => {
		const out = [];
		if (/^(img|script|iframe|svg|object|embed|style|link|video|audio|source|form)$/i.test(el.tagName)) out.push(el.tagName);
		for (const a of el.attributes) {
			if (/^on/i.test(a.name) || a.name === 'style' || a.name === 'src' || a.name === 'srcset' || /^\s*javascript:/i.test(a.value)) out.push(el.tagName + ' ' + a.name + '=' + a.value);
		}
		return out;
	})`)
	if len(bad) > 0 {
		t.Errorf("the rendered answer has %q: %s", bad, body)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#messages article.assistant .body a').length`); n != 1 {
		t.Errorf("%d links, want the Markdown one (without its javascript: URL): %s", n, body)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#messages .blocked-image').length`); n != 1 {
		t.Errorf("%d blocked-image notes, want 1: %s", n, body)
	}
	// The raw HTML is shown as text.
	if txt := eval[string](t, ctx, `document.querySelector('#messages article.assistant .body').textContent`); !strings.Contains(txt, "<script>window.pwned=2") {
		t.Errorf("raw HTML is not shown as text: %q", txt)
	}
	mu.Lock()
	defer mu.Unlock()
	if dialogs != 0 {
		t.Errorf("%d dialogs opened", dialogs)
	}
	if len(foreign) != 0 {
		t.Errorf("requests to other hosts: %q", foreign)
	}
}

const weatherTools = `[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]`

// setTools gives the current conversation tools through the settings
// dialog.
func setTools(t *testing.T, ctx context.Context) {
	t.Helper()
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("settings-open")),
		chromedp.WaitVisible(chromedp.ID("settings")),
		chromedp.SetValue(chromedp.ID("set-tools"), weatherTools),
		chromedp.Click(chromedp.CSS(`#settings-form button[type=submit]`)),
		chromedp.WaitNotVisible(chromedp.ID("settings"))))
}

// The conversation's settings go with the request; reasoning is folded
// away; tool calls are shown as such.
func (f *fixture) testReasoning(t *testing.T) {
	ctx := f.tab(t, "en-US")
	selectModel(t, ctx, "think")
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("settings-open")),
		chromedp.WaitVisible(chromedp.ID("settings")),
		chromedp.SetValue(chromedp.ID("set-system"), "Answer in Korean."),
		chromedp.SetValue(chromedp.ID("set-temperature"), "0.3"),
		chromedp.SetValue(chromedp.ID("set-top_p"), "0.9"),
		chromedp.SetValue(chromedp.ID("set-num_predict"), "200"),
		chromedp.SetValue(chromedp.ID("set-num_ctx"), "2048"),
		chromedp.SetValue(chromedp.ID("set-seed"), "42"),
		chromedp.SetValue(chromedp.ID("set-tools"), "{not json"),
		chromedp.Click(chromedp.CSS(`#settings-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("settings-error")),
		chromedp.SetValue(chromedp.ID("set-tools"), weatherTools),
		chromedp.Click(chromedp.CSS(`#settings-form button[type=submit]`)),
		chromedp.WaitNotVisible(chromedp.ID("settings")),
	))
	typeAndSend(t, ctx, "서울 날씨 어때?")
	waitIdle(t, ctx)

	var req struct {
		Messages []map[string]any `json:"messages"`
		Options  map[string]any   `json:"options"`
		Tools    []any            `json:"tools"`
	}
	must(t, json.Unmarshal([]byte(f.ts.lastBody()), &req))
	wantOpts := map[string]any{"temperature": 0.3, "top_p": 0.9, "num_predict": 200.0, "num_ctx": 2048.0, "seed": 42.0}
	if fmt.Sprint(req.Options) != fmt.Sprint(wantOpts) || len(req.Tools) != 1 || len(req.Messages) != 2 ||
		req.Messages[0]["role"] != "system" || req.Messages[0]["content"] != "Answer in Korean." {
		t.Errorf("request %s", f.ts.lastBody())
	}

	sel := `#messages article.assistant`
	if open := eval[bool](t, ctx, `document.querySelector('`+sel+` details.thinking').open`); open {
		t.Errorf("reasoning is unfolded")
	}
	if txt := eval[string](t, ctx, `document.querySelector('`+sel+` .thinking-text').textContent`); !strings.Contains(txt, "서울 날씨를 찾아야 한다.") {
		t.Errorf("reasoning %q", txt)
	}
	if txt := eval[string](t, ctx, `document.querySelector('`+sel+` .tool-calls').textContent`); !strings.Contains(txt, "get_weather") || !strings.Contains(txt, `"city": "서울"`) {
		t.Errorf("tool calls %q", txt)
	}
	if txt := eval[string](t, ctx, `document.querySelector('`+sel+` .body').textContent`); strings.Contains(txt, "tool_call") || strings.Contains(txt, "think") {
		t.Errorf("the answer text shows the markup: %q", txt)
	}
}

// Conversations are made, renamed, searched and deleted; messages and
// code blocks are copied.
func (f *fixture) testConversations(t *testing.T) {
	ctx := f.tab(t, "en-US")
	selectModel(t, ctx, "talk")
	typeAndSend(t, ctx, "first question")
	waitIdle(t, ctx)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("new-chat"))))
	if n := eval[int](t, ctx, `document.querySelectorAll('#messages article').length`); n != 0 {
		t.Errorf("a new chat shows %d messages", n)
	}
	selectModel(t, ctx, "xss")
	typeAndSend(t, ctx, "second question")
	waitIdle(t, ctx)
	titles := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('#conversations .conv-open')].map(b => b.textContent).join('|')`)
	}
	if got := titles(); got != "second question|first question" {
		t.Fatalf("conversations %q", got)
	}

	// Copy: the code block's text, and a whole message's Markdown.
	eval[chromedp.Void](t, ctx, `window.copied = []; navigator.clipboard.writeText = async s => { copied.push(s) }`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#conversations li:nth-child(2) .conv-open`)),
		chromedp.WaitVisible(chromedp.CSS(`#messages .copy-code`)),
		chromedp.Click(chromedp.CSS(`#messages .copy-code`)),
		chromedp.Click(chromedp.CSS(`#messages article.assistant .msg-copy`)),
		chromedp.Poll[chromedp.Void](`copied.length === 2`)))
	if got := eval[[]string](t, ctx, `copied`); got[0] != "func main() {\n\tfmt.Println(\"안녕\")\n}" || got[1] != talkScript {
		t.Errorf("copied %q", got)
	}

	// Rename the first conversation.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#conversations button[aria-label="Rename: first question"]`)),
		chromedp.WaitVisible(chromedp.ID("ask-input")),
		chromedp.SetValue(chromedp.ID("ask-input"), "인사"),
		chromedp.Click(chromedp.ID("ask-ok")),
		chromedp.WaitNotVisible(chromedp.ID("ask"))))
	if got := titles(); got != "second question|인사" {
		t.Errorf("after renaming: %q", got)
	}
	// Search finds titles and message text.
	search := func(q string) {
		t.Helper()
		must(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("search")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('search').select()`),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: q})
				return err
			})))
		if q == "" {
			eval[chromedp.Void](t, ctx, `(s => { s.value = ''; s.dispatchEvent(new Event('input')) })(document.getElementById('search'))`)
		}
	}
	for q, want := range map[string]string{"인사": "인사", "SECOND": "second question", "마지막 문장": "인사", "nothing like it": ""} {
		search(q)
		if got := titles(); got != want {
			t.Errorf("search %q: %q, want %q", q, got, want)
		}
	}
	search("")
	// Delete one after confirming; Escape cancels.
	del := chromedp.CSS(`#conversations button[aria-label="Delete: 인사"]`)
	must(t, chromedp.Do(ctx, chromedp.Click(del), chromedp.WaitVisible(chromedp.ID("ask")),
		chromedp.KeyEvent("\x1b"), chromedp.WaitNotVisible(chromedp.ID("ask"))))
	if got := titles(); got != "second question|인사" {
		t.Errorf("Escape deleted: %q", got)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(del), chromedp.WaitVisible(chromedp.ID("ask")),
		chromedp.Click(chromedp.ID("ask-ok")), chromedp.WaitNotVisible(chromedp.ID("ask"))))
	if got := titles(); got != "second question" {
		t.Errorf("after deleting: %q", got)
	}
	if n := eval[int](t, ctx, `JSON.parse(localStorage.getItem('ondo.conversations')).length`); n != 1 {
		t.Errorf("%d conversations stored after deleting one of two", n)
	}
}

// With an API key, the page loads without it, asks for it, and sends it.
func testAPIKey(t *testing.T, f *fixture) {
	ts := startServer(t, server.Config{ModelsDir: f.dir, APIKey: "sekrit"})
	ctx, cancel := chromedp.NewContext(f.browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(ts.url+"/"),
		chromedp.Evaluate[chromedp.Void](`localStorage.clear(); sessionStorage.clear()`),
		chromedp.Reload(),
		// /api/tags answered 401: the page asks.
		chromedp.WaitVisible(chromedp.ID("key-input")),
		chromedp.SendKeys(chromedp.ID("key-input"), "sekrit"),
		chromedp.Click(chromedp.CSS(`#key-form button[type=submit]`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#model option[value="xss"]').length > 0`),
	))
	if got := eval[string](t, ctx, `sessionStorage.getItem('ondo.apiKey') + '|' + localStorage.getItem('ondo.apiKey')`); got != "sekrit|null" {
		t.Errorf("stored key %q, want it in sessionStorage only", got)
	}
	selectModel(t, ctx, "xss")
	chats := ts.chats.Load()
	typeAndSend(t, ctx, "hello")
	waitIdle(t, ctx)
	if n := ts.chats.Load() - chats; n != 1 {
		t.Fatalf("%d chats", n)
	}
	if txt := eval[string](t, ctx, `document.querySelector('#messages article.assistant .body').textContent`); !strings.Contains(txt, "END") {
		t.Errorf("answer with the key: %q", txt)
	}
}

// Models are pulled with a progress bar and deleted after a confirmation.
func (f *fixture) testModels(t *testing.T) {
	ctx := f.tab(t, "en-US")
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#models .model-name')].map(e => e.textContent).join(',')`); got != "talk,think,xss" {
		t.Errorf("model list %q", got)
	}
	// A model that has answered is loaded.
	selectModel(t, ctx, "xss")
	typeAndSend(t, ctx, "hi")
	waitIdle(t, ctx)
	must(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('#model option[value="xss"]').textContent === 'xss (loaded)'`)))
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#models li')].find(li => li.textContent.startsWith('xss'))?.querySelector('.badge')?.textContent`); got != "loaded" {
		t.Errorf("xss in the model list: badge %q", got)
	}
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("pull-name"), "fresh"),
		chromedp.Click(chromedp.ID("pull")),
		chromedp.WaitVisible(chromedp.ID("pull-status")),
		chromedp.Poll[chromedp.Void](`(() => { const p = document.getElementById('pull-progress'); return p.value > 0 && p.value < 1 })()`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#model option[value="fresh"]').length > 0`),
	))
	if got := eval[string](t, ctx, `document.getElementById('pull-text').textContent`); got != "Pulled fresh" {
		t.Errorf("pull status %q", got)
	}
	// Delete it: a confirmation first; Cancel keeps it.
	del := chromedp.CSS(`#models button[aria-label="Delete: fresh"]`)
	must(t, chromedp.Do(ctx, chromedp.Click(del), chromedp.WaitVisible(chromedp.ID("ask")),
		chromedp.Click(chromedp.ID("ask-cancel")), chromedp.WaitNotVisible(chromedp.ID("ask"))))
	if _, err := os.Stat(filepath.Join(f.dir, "fresh.gguf")); err != nil {
		t.Fatalf("Cancel deleted the model: %v", err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(del), chromedp.WaitVisible(chromedp.ID("ask")),
		chromedp.Click(chromedp.ID("ask-ok")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#model option[value="fresh"]').length === 0`)))
	if _, err := os.Stat(filepath.Join(f.dir, "fresh.gguf")); err == nil {
		t.Errorf("fresh.gguf is still there")
	}
}

// axe-core finds no serious or critical problem, in light or dark.
func (f *fixture) testAccessibility(t *testing.T) {
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is not installed: run npm ci in webui/testdata/axe (%v)", err)
		}
		t.Skipf("axe-core is not installed: run npm ci in webui/testdata/axe")
	}
	for _, scheme := range []string{"light", "dark"} {
		t.Run(scheme, func(t *testing.T) {
			ctx := f.tab(t, "en-US")
			setScheme(t, ctx, scheme)
			selectModel(t, ctx, "think")
			typeAndSend(t, ctx, "Hello")
			waitIdle(t, ctx)
			check := func(what string) {
				t.Helper()
				eval[chromedp.Void](t, ctx, string(axe))
				res, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]any](`axe.run(document, {resultTypes: ['violations']}).then(r =>
					r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v =>
						({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))`,
					chromedp.EvalAwaitPromise))
				must(t, err)
				for _, v := range res {
					t.Errorf("%s, %s: %v %v: %v", scheme, what, v["impact"], v["id"], v["help"])
					t.Logf("  at %v", v["nodes"])
				}
			}
			check("a conversation")
			must(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("settings-open")), chromedp.WaitVisible(chromedp.ID("settings"))))
			check("the settings dialog")
		})
	}
}

func setScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	must(t, err)
}

// Screenshots at desktop and phone width, light and dark, into the folder
// $ONDO_UI_SCREENSHOTS.
func (f *fixture) testScreenshots(t *testing.T) {
	out := os.Getenv("ONDO_UI_SCREENSHOTS")
	if out == "" {
		t.Skip("set ONDO_UI_SCREENSHOTS to a folder to take screenshots")
	}
	must(t, os.MkdirAll(out, 0o755))
	ctx := f.tab(t, "en-US")
	selectModel(t, ctx, "talk")
	typeAndSend(t, ctx, "Hi! Who are you?")
	waitIdle(t, ctx)
	selectModel(t, ctx, "think")
	setTools(t, ctx)
	typeAndSend(t, ctx, "What's the weather in Seoul?")
	waitIdle(t, ctx)
	eval[chromedp.Void](t, ctx, `[...document.querySelectorAll('details.thinking')].at(-1).open = true; document.activeElement.blur()`)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		for _, scheme := range []string{"light", "dark"} {
			setScheme(t, ctx, scheme)
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(size.w, size.h), chromedp.Sleep(200*time.Millisecond),
				// The desktop shows the first answer, the phone the last.
				chromedp.Evaluate[chromedp.Void](`(m => m.scrollTop = `+map[bool]string{true: "0", false: "m.scrollHeight"}[size.name == "desktop"]+`)(document.getElementById('messages'))`)))
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			must(t, err)
			name := filepath.Join(out, fmt.Sprintf("chat-%s-%s.png", size.name, scheme))
			must(t, os.WriteFile(name, png, 0o644))
			t.Logf("wrote %s", name)
		}
	}
	// The phone's drawer, opened.
	setScheme(t, ctx, "light")
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Click(chromedp.ID("menu")), chromedp.Sleep(300*time.Millisecond)))
	if got := eval[string](t, ctx, `document.getElementById('menu').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("menu aria-expanded %q after opening", got)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	must(t, err)
	must(t, os.WriteFile(filepath.Join(out, "chat-phone-menu-light.png"), png, 0o644))
}
