//! The README's task recipes work as written (issue 11): every block of "Everyday tasks"
//! (`<!-- recipe: NAME -->` before a fenced `sh` block) is pasted, line by line, into one bash
//! at a repo root while `make run` runs, and every command gives the answer its trailing
//! comment documents. And the README links nowhere outside the repo and keeps no leftovers.
//!
//! Verbatim, not adapted: the recipes name `run/…`, `target/release`, port 8443 and the CLI's
//! default shim URL (port 8181), so the demo runs on its default ports in a network namespace
//! of its own (`mtls_gate_e2e::demo::Setup::isolated`; a developer's own `make run` on those
//! ports is neither touched nor seen), its state in `<tmp>/run`, and the shell runs in that
//! namespace from `<tmp>`, where `target/release/mtls-gate-shim` is the shim under test.
//!
//! What a trailing comment documents (the quick start's style):
//! - `# 200 …`: a curl answering HTTP 200 (the shell's `curl` is a function that prints the
//!   status after the body; the command text is untouched);
//! - any `` `text` `` in it: the answer contains that text, where `…` matches anything and
//!   `$NAME` is the value the recipes gave the shell variable NAME;
//! - otherwise, or no comment: the command exits 0.
//!
//! Timing: a recipe that waits for the gate to follow a change says so with its own `sleep`.
//! A curl that answers otherwise is asked again for up to [`GRACE`], for a loaded test
//! machine, and then fails naming the block and the README line.

use anyhow::{Context, Result, bail, ensure};
use mtls_gate_e2e::demo::{Demo, Setup, signal_group};
use mtls_gate_testkit::paths;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The recipes the issue asks for, in the README's order.
const RECIPES: [&str; 5] = [
    "setup",
    "allow-client",
    "key-with-alias",
    "revoke",
    "rotate-upstream",
];
/// The README section that holds them.
const SECTION: &str = "## Everyday tasks";
/// How long a curl whose answer differs is asked again (see the module doc).
const GRACE: Duration = Duration::from_secs(3);
/// One command, start to end (a curl to the demo answers in milliseconds).
const COMMAND: Duration = Duration::from_secs(30);
/// What the shell's `curl` prints after the body: the HTTP status (000: no HTTP answer).
const STATUS_MARK: &str = "__recipe_http_status__ ";
/// What the shell prints after each command: its exit status.
const DONE_MARK: &str = "__recipe_done__ ";
/// Where the README may link outside the repo: public documentation only.
const PUBLIC_DOCS: [&str; 6] = [
    "https://docs.rs/",
    "https://doc.rust-lang.org/",
    "https://www.envoyproxy.io/docs/",
    "https://tyk.io/docs/",
    "https://www.rfc-editor.org/",
    "https://datatracker.ietf.org/doc/",
];
/// Placeholders that must not ship.
const LEFTOVER_WORDS: [&str; 4] = ["TODO", "FIXME", "TBD", "XXX"];

/// One `<!-- recipe: NAME -->` block.
#[derive(Debug)]
struct Recipe {
    name: String,
    steps: Vec<Step>,
}

/// One command of a recipe, as pasted (continuation lines included).
#[derive(Debug, PartialEq)]
struct Step {
    /// README line of the command's first line.
    line: usize,
    text: String,
    expect: Expect,
}

/// What a command's trailing comment documents.
#[derive(Debug, Default, PartialEq)]
struct Expect {
    /// The HTTP status of a curl.
    status: Option<u16>,
    /// Texts the answer contains (`…` matches anything; `$NAME` is a shell variable).
    texts: Vec<String>,
}

impl Expect {
    fn parse(comment: &str) -> Result<Expect> {
        let comment = comment.trim();
        let digits = comment.bytes().take_while(u8::is_ascii_digit).count();
        let status = match digits {
            3 => Some(comment.get(..3).unwrap_or_default().parse()?),
            _ => None,
        };
        let parts: Vec<&str> = comment.split('`').collect();
        ensure!(
            parts.len() % 2 == 1,
            "an unclosed ` in the comment {comment:?}"
        );
        let texts = parts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|t| (*t).to_owned())
            .collect();
        Ok(Expect { status, texts })
    }
}

/// The recipes of the README's [`SECTION`], in order.
fn recipes(readme: &str) -> Result<Vec<Recipe>> {
    let lines: Vec<(usize, &str)> = readme.lines().zip(1..).map(|(l, n)| (n, l)).collect();
    let start = lines
        .iter()
        .position(|(_, l)| l.starts_with(SECTION))
        .with_context(|| format!("README.md has no section {SECTION:?}"))?;
    let section = lines.get(start + 1..).unwrap_or_default();
    let end = section
        .iter()
        .position(|(_, l)| l.starts_with("## "))
        .unwrap_or(section.len());
    let mut recipes = Vec::new();
    let mut marker: Option<(usize, String)> = None;
    let mut block: Option<(String, Vec<(usize, &str)>)> = None;
    for &(n, line) in section.get(..end).unwrap_or_default() {
        let trimmed = line.trim();
        if let Some((name, body)) = block.as_mut() {
            if trimmed == "```" {
                let steps = steps(body).with_context(|| format!("recipe `{name}`"))?;
                recipes.push(Recipe {
                    name: std::mem::take(name),
                    steps,
                });
                block = None;
            } else {
                body.push((n, line));
            }
        } else if let Some(name) = trimmed
            .strip_prefix("<!-- recipe:")
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            ensure!(
                marker.is_none(),
                "README.md:{n}: two recipe markers in a row"
            );
            marker = Some((n, name.trim().to_owned()));
        } else if let Some(lang) = trimmed.strip_prefix("```") {
            match marker.take() {
                Some((_, name)) if lang == "sh" => block = Some((name, Vec::new())),
                Some((m, _)) => bail!("README.md:{m}: a recipe marker before a ```{lang} block"),
                None => bail!(
                    "README.md:{n}: a code block in {SECTION:?} without <!-- recipe: NAME --> \
                     before it: the checker would not run it"
                ),
            }
        } else if !trimmed.is_empty()
            && let Some((m, _)) = &marker
        {
            bail!("README.md:{m}: a recipe marker not right before its ```sh block");
        }
    }
    ensure!(block.is_none(), "README.md: a recipe block is not closed");
    Ok(recipes)
}

/// A block's commands: comment lines and blank lines skipped, `\` continuations joined.
fn steps(body: &[(usize, &str)]) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for &(n, line) in body {
        if pending.is_none() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        let (first, mut text) = pending.take().unwrap_or((n, String::new()));
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
        if line.ends_with('\\') {
            pending = Some((first, text));
            continue;
        }
        // Each command is sent to the shell on its own; a here-document would need the lines
        // after it.
        ensure!(
            !text.replace("<<<", "").contains("<<"),
            "README.md:{first}: a here-document; write the command on one line"
        );
        let expect = match trailing_comment(line) {
            Some(comment) => Expect::parse(comment).with_context(|| format!("README.md:{n}"))?,
            None => Expect::default(),
        };
        steps.push(Step {
            line: first,
            text,
            expect,
        });
    }
    ensure!(
        pending.is_none(),
        "a recipe ends with a continuation line (`\\`)"
    );
    Ok(steps)
}

/// The text after a shell comment's `#` (a `#` starting a word, outside quotes), as bash
/// reads the line.
fn trailing_comment(line: &str) -> Option<&str> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut previous = ' ';
    for (i, ch) in line.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => {
                return line.get(i + 1..);
            }
            _ => {}
        }
        previous = ch;
    }
    None
}

/// Whether `text` contains `pattern`, where `…` in the pattern matches anything.
fn contains_pattern(text: &str, pattern: &str) -> bool {
    let mut rest = text;
    for piece in pattern.split('…') {
        match rest.find(piece) {
            Some(at) => rest = rest.get(at + piece.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// A command's answer against what its comment documents (`texts` with variables expanded).
fn judge(expect: &Expect, texts: &[String], exit: i32, output: &str) -> Result<(), String> {
    if let Some(status) = expect.status {
        let answered = output
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(STATUS_MARK))
            .ok_or("no HTTP status: the comment documents one, so the command must be a curl")?;
        if answered.trim() != status.to_string() {
            return Err(format!(
                "answered HTTP {}, the README says {status}",
                answered.trim()
            ));
        }
    } else if exit != 0 {
        return Err(format!("exited {exit}"));
    }
    match texts.iter().find(|t| !contains_pattern(output, t)) {
        Some(missing) => Err(format!("the answer has no `{missing}`")),
        None => Ok(()),
    }
}

/// `$NAME` and `${NAME}` in a documented text.
fn variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = rest.get(at + 1..).unwrap_or_default();
        let braced = rest.starts_with('{');
        let body = if braced {
            rest.get(1..).unwrap_or_default()
        } else {
            rest
        };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        if len > 0 {
            names.push(body.get(..len).unwrap_or_default().to_owned());
        }
    }
    names
}

/// One bash, as a user's terminal, fed one command at a time on stdin. A command runs in
/// the shell itself (its variables and functions stay), its output into a file, then the
/// shell prints [`DONE_MARK`] and the exit status.
struct PasteShell {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    output: PathBuf,
    stderr: PathBuf,
}

impl PasteShell {
    fn start(demo: &Demo, dir: &Path) -> Result<Self> {
        let stderr = dir.join("shell.stderr");
        let home = dir.join("home");
        std::fs::create_dir_all(&home)?;
        // A user's environment, without the test's: no MTLS_GATE_* variables, no dotfiles.
        let mut child = demo
            .enter_command("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .process_group(0)
            .spawn()
            .context("starting the shell in the demo's namespace")?;
        let stdin = child.stdin.take().context("shell stdin")?;
        let stdout = child.stdout.take().context("shell stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut shell = PasteShell {
            child,
            stdin,
            lines,
            output: dir.join("command.out"),
            stderr,
        };
        // The status after the body, for the comments' `# 200`; a -w in the command wins.
        let (exit, output) = shell.run(&format!(
            "curl() {{ command curl -w '\\n{STATUS_MARK}%{{http_code}}\\n' \"$@\"; }}"
        ))?;
        ensure!(exit == 0, "defining the shell's curl: {output}");
        Ok(shell)
    }

    /// Runs `text` as pasted; its exit status and everything it printed (stdout and stderr).
    fn run(&mut self, text: &str) -> Result<(i32, String)> {
        let output = self.output.display().to_string();
        // The command's stdin is not the shell's: a command reading stdin would eat the
        // commands after it.
        write!(
            self.stdin,
            "{{ {text}\n}} >'{output}' 2>&1 </dev/null\nprintf '{DONE_MARK}%s\\n' \"$?\"\n"
        )?;
        self.stdin.flush()?;
        let deadline = Instant::now() + COMMAND;
        let exit = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(code) = line.strip_prefix(DONE_MARK) {
                        break code.trim().parse()?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => bail!("no answer within {COMMAND:?}"),
                Err(RecvTimeoutError::Disconnected) => bail!(
                    "the shell exited ({:?}): {}",
                    self.child.try_wait()?,
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
            }
        };
        Ok((exit, std::fs::read_to_string(&self.output)?))
    }

    /// A documented text with the shell's variables put in.
    fn expand(&mut self, text: &str) -> Result<String> {
        let mut expanded = text.to_owned();
        for name in variables(text) {
            let (_, value) = self.run(&format!("printf %s \"${{{name}}}\""))?;
            ensure!(!value.is_empty(), "`{text}` names ${name}, which is empty");
            expanded = expanded
                .replace(&format!("${{{name}}}"), &value)
                .replace(&format!("${name}"), &value);
        }
        Ok(expanded)
    }
}

impl Drop for PasteShell {
    fn drop(&mut self) {
        // Its own process group: a command left running goes with it.
        let _ = signal_group("KILL", self.child.id());
        let _ = self.child.wait();
    }
}

/// Runs one step until it answers as documented (a curl: within [`GRACE`]).
fn check(shell: &mut PasteShell, recipe: &Recipe, step: &Step) -> Result<()> {
    let at = || format!("README.md:{}, recipe `{}`", step.line, recipe.name);
    let started = Instant::now();
    let mut tries = 0;
    loop {
        tries += 1;
        let (exit, output) = shell.run(&step.text).with_context(at)?;
        // After the command: it may set a variable its own comment names.
        let texts = step
            .expect
            .texts
            .iter()
            .map(|t| shell.expand(t))
            .collect::<Result<Vec<_>>>()
            .with_context(at)?;
        let why = match judge(&step.expect, &texts, exit, &output) {
            Ok(()) => {
                if tries > 1 {
                    // Within the grace, but later than the recipe's own wait: worth seeing.
                    eprintln!(
                        "{}: as documented on try {tries}, {:?} after the first",
                        at(),
                        started.elapsed()
                    );
                }
                return Ok(());
            }
            Err(why) => why,
        };
        // Only a curl is asked again: it changes nothing, and its answer may be one sync late.
        if step.expect.status.is_none() || started.elapsed() >= GRACE {
            bail!(
                "README.md:{}, recipe `{}`: {why} (try {tries}, {:?} after the first)\n  \
                 command: {}\n  answer: {output}",
                step.line,
                recipe.name,
                started.elapsed(),
                step.text
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn readme() -> Result<String> {
    let path = paths::repo_root().join("README.md");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

#[test]
fn readme_recipes_give_their_documented_answers() -> Result<()> {
    let recipes = recipes(&readme()?)?;
    let names: Vec<&str> = recipes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, RECIPES, "the README's recipes");
    for recipe in &recipes {
        ensure!(
            !recipe.steps.is_empty(),
            "recipe `{}` is empty",
            recipe.name
        );
    }

    let setup = Setup::isolated()?;
    // The repo layout the recipes name: `run/` is the demo's state (MTLS_GATE_RUN_DIR), and
    // `target/release/mtls-gate-shim` the shim the demo runs.
    let release = setup.dir().join("target/release");
    std::fs::create_dir_all(&release)?;
    std::os::unix::fs::symlink(setup.shim_bin(), release.join("mtls-gate-shim"))?;
    let mut demo = setup.start("demo", &[])?;
    demo.wait_up()?;

    let mut shell = PasteShell::start(&demo, setup.dir())?;
    let mut checked = 0;
    for recipe in &recipes {
        for step in &recipe.steps {
            check(&mut shell, recipe, step)?;
            checked += 1;
        }
    }
    // Every recipe documents answers, and most commands do: a parse that found none would
    // check nothing.
    let documented = recipes
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| s.expect.status.is_some() || !s.expect.texts.is_empty())
        .count();
    assert!(documented >= 15, "{documented} documented answers");
    assert_eq!(
        checked,
        recipes.iter().map(|r| r.steps.len()).sum::<usize>()
    );
    Ok(())
}

// ---- links and leftovers ----

/// The README's lines outside fenced code blocks, numbered, and the fence state at the end
/// (an unclosed fence is itself a problem).
fn prose(markdown: &str) -> (Vec<(usize, &str)>, bool) {
    let mut lines = Vec::new();
    let mut in_fence = false;
    for (line, n) in markdown.lines().zip(1..) {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push((n, line));
        }
    }
    (lines, in_fence)
}

/// A prose line without its inline code (`` `…` ``), where URLs are examples, not links.
fn without_code(line: &str) -> String {
    line.split('`').step_by(2).collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Link targets on a prose line: `[text](target)`, `<url>`, `href="…"`, and bare URLs.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest_of_line = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        rest_of_line.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 2..).unwrap_or_default();
        let end = after.find(')').unwrap_or(after.len());
        let target = after.get(..end).unwrap_or_default();
        // `[text](target "title")`
        targets.push(
            target
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        rest = after.get(end..).unwrap_or_default();
    }
    rest_of_line.push_str(rest);
    for marker in ["href=\"", "src=\""] {
        for (at, _) in rest_of_line.match_indices(marker) {
            let after = rest_of_line.get(at + marker.len()..).unwrap_or_default();
            targets.push(after.split('"').next().unwrap_or_default().to_owned());
        }
    }
    for scheme in ["http://", "https://", "mailto:", "file://", "ftp://"] {
        for (at, _) in rest_of_line.match_indices(scheme) {
            // A scheme starts a word: `xhttps://` is no link.
            let starts_word = rest_of_line
                .get(..at)
                .and_then(|before| before.chars().last())
                .is_none_or(|c| !c.is_alphanumeric());
            if !starts_word {
                continue;
            }
            let url: String = rest_of_line
                .get(at..)
                .unwrap_or_default()
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ')' | '>' | '"' | '\''))
                .collect();
            // The sentence's punctuation is not the URL's.
            let url = url
                .trim_end_matches(['.', ',', ';', ':', '!', '?'])
                .to_owned();
            if !targets.contains(&url) {
                targets.push(url);
            }
        }
    }
    targets
}

/// Links that leave the repo (other than to public documentation) or lead nowhere.
fn link_problems(markdown: &str, root: &Path) -> Vec<String> {
    let (lines, _) = prose(markdown);
    let mut anchors = BTreeSet::new();
    for (_, line) in &lines {
        if let Some(heading) = line.strip_prefix('#') {
            let base = slug(&heading.trim_start_matches('#').replace('`', ""));
            let mut anchor = base.clone();
            let mut n = 0;
            while !anchors.insert(anchor.clone()) {
                n += 1;
                anchor = format!("{base}-{n}");
            }
        }
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut problems = Vec::new();
    for (n, line) in &lines {
        for target in link_targets(&without_code(line)) {
            let problem = if let Some(anchor) = target.strip_prefix('#') {
                (!anchors.contains(anchor)).then(|| "no heading has this anchor".to_owned())
            } else if target.starts_with("http://") || target.starts_with("https://") {
                (!PUBLIC_DOCS.iter().any(|docs| target.starts_with(docs))).then(|| {
                    "a link to another site that is not public documentation (PUBLIC_DOCS)"
                        .to_owned()
                })
            } else if target.contains(':') {
                Some("not a file of the repo".to_owned())
            } else {
                let file = target.split(['#', '?']).next().unwrap_or_default();
                if escapes(file) {
                    Some("outside the repo".to_owned())
                } else {
                    match root.join(file).canonicalize() {
                        Ok(path) if path.starts_with(&root) => None,
                        Ok(_) => Some("outside the repo".to_owned()),
                        Err(_) => Some("no such file in the repo".to_owned()),
                    }
                }
            };
            if let Some(problem) = problem {
                problems.push(format!("README.md:{n}: {target}: {problem}"));
            }
        }
    }
    problems
}

/// Whether a relative link climbs above the README's folder by its own spelling, whether or not
/// the place it names exists (on a clean clone `../../x` may name nothing at all).
fn escapes(file: &str) -> bool {
    let mut depth = 0_i32;
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    file.starts_with('/')
}

/// HTML comments other than recipe markers, placeholder words, an unclosed code block.
fn leftovers(markdown: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (lines, unclosed) = prose(markdown);
    for (n, line) in &lines {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("<!--") {
            let after = rest.get(at..).unwrap_or_default();
            let end = after.find("-->").map(|e| e + 3).unwrap_or(after.len());
            let comment = after.get(..end).unwrap_or_default();
            let is_marker = comment
                .strip_prefix("<!-- recipe: ")
                .and_then(|c| c.strip_suffix(" -->"))
                .is_some_and(|name| {
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
            if !is_marker {
                found.push(format!("README.md:{n}: an HTML comment: {comment}"));
            }
            rest = after.get(end..).unwrap_or_default();
        }
    }
    for (line, n) in markdown.lines().zip(1..) {
        let words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
        for word in words.filter(|w| LEFTOVER_WORDS.contains(w)) {
            found.push(format!("README.md:{n}: {word}"));
        }
    }
    if unclosed {
        found.push("README.md: a code block is not closed".to_owned());
    }
    found
}

#[test]
fn readme_links_stay_in_the_repo_and_nothing_is_left_over() -> Result<()> {
    let readme = readme()?;
    assert_eq!(
        link_problems(&readme, &paths::repo_root()),
        Vec::<String>::new()
    );
    assert_eq!(leftovers(&readme), Vec::<String>::new());
    // The checks read something: the README does link within itself.
    let (lines, _) = prose(&readme);
    assert!(
        lines
            .iter()
            .any(|(_, l)| !link_targets(&without_code(l)).is_empty())
    );
    Ok(())
}

#[test]
fn readme_checker_flags_outside_links_broken_links_and_leftovers() {
    let markdown = "# Title\n## Quick `start`\n\
        [ok](#quick-start) [ok](Makefile) [ok](https://docs.rs/serde) `[code](https://x.test)`\n\
        [gone](#nowhere) [missing](docs/missing.md) [up](../../etc/passwd) [site](https://example.com/a)\n\
        see https://example.org/b, xhttps://no.test and <mailto:a@b.test>\n\
        <!-- recipe: setup -->\n<!-- MORE-SECTIONS -->\nTODO: finish\n\
        ```sh\n# https://in.code.test is code\n```\n```\nunclosed\n";
    let root = paths::repo_root();
    assert_eq!(
        link_problems(markdown, &root),
        [
            "README.md:4: #nowhere: no heading has this anchor",
            "README.md:4: docs/missing.md: no such file in the repo",
            "README.md:4: ../../etc/passwd: outside the repo",
            "README.md:4: https://example.com/a: a link to another site that is not public documentation (PUBLIC_DOCS)",
            "README.md:5: https://example.org/b: a link to another site that is not public documentation (PUBLIC_DOCS)",
            "README.md:5: mailto:a@b.test: not a file of the repo",
        ]
    );
    assert_eq!(
        leftovers(markdown),
        [
            "README.md:7: an HTML comment: <!-- MORE-SECTIONS -->",
            "README.md:8: TODO",
            "README.md: a code block is not closed",
        ]
    );
    assert_eq!(
        slug("Envoy integration: mtls-gate-shim render"),
        "envoy-integration-mtls-gate-shim-render"
    );
}

#[test]
fn readme_recipe_blocks_parse_into_commands_and_answers() -> Result<()> {
    let markdown = "## Everyday tasks (x)\n\ntext\n\n<!-- recipe: one -->\n```sh\n\
        # a note\nA=1; echo \"$A\"   # `1`\n\
        curl -s \"https://x.test/#frag\" \\\n  -H 'a: #b'   # 403 `{\"error\": \"Certificate … not allowed\"}`: why\n\
        \nrun/render.sh   # renders, says `rendered`\nsleep 1\n```\n\n## Next\n```sh\nignored\n```\n";
    let parsed = recipes(markdown)?;
    assert_eq!(parsed.len(), 1);
    let recipe = parsed.first().context("one recipe")?;
    assert_eq!(recipe.name, "one");
    assert_eq!(
        recipe.steps,
        [
            Step {
                line: 8,
                text: "A=1; echo \"$A\"   # `1`".to_owned(),
                expect: Expect {
                    status: None,
                    texts: vec!["1".to_owned()]
                },
            },
            Step {
                line: 9,
                text: "curl -s \"https://x.test/#frag\" \\\n  -H 'a: #b'   # 403 `{\"error\": \"Certificate … not allowed\"}`: why".to_owned(),
                expect: Expect {
                    status: Some(403),
                    texts: vec!["{\"error\": \"Certificate … not allowed\"}".to_owned()]
                },
            },
            Step {
                line: 12,
                text: "run/render.sh   # renders, says `rendered`".to_owned(),
                expect: Expect {
                    status: None,
                    texts: vec!["rendered".to_owned()]
                },
            },
            Step {
                line: 13,
                text: "sleep 1".to_owned(),
                expect: Expect::default(),
            },
        ]
    );
    // A block without a marker, and a marker not before its block, are refused.
    assert!(recipes("## Everyday tasks\n```sh\nls\n```\n").is_err());
    assert!(recipes("## Everyday tasks\n<!-- recipe: a -->\nprose\n```sh\nls\n```\n").is_err());
    assert!(
        recipes("## Everyday tasks\n<!-- recipe: a -->\n```sh\ncat <<EOF\nx\nEOF\n```\n").is_err()
    );
    Ok(())
}

#[test]
fn readme_answers_are_judged_by_status_and_documented_text() {
    let expect = |comment: &str| Expect::parse(comment).unwrap_or_default();
    let body =
        format!("{{\"error\": \"Certificate with SHA256 ab12 not allowed\"}}\n{STATUS_MARK}403\n");
    let denied = expect("403 `{\"error\": \"Certificate with SHA256 … not allowed\"}`");
    assert_eq!(judge(&denied, &denied.texts, 0, &body), Ok(()));
    let ok = expect("200");
    assert_eq!(
        judge(&ok, &[], 0, &body),
        Err("answered HTTP 403, the README says 200".to_owned())
    );
    let other = expect("403 `Key is inactive`");
    assert_eq!(
        judge(&other, &other.texts, 0, &body),
        Err("the answer has no `Key is inactive`".to_owned())
    );
    assert!(judge(&ok, &[], 0, "no status line").is_err());
    let plain = expect("`\"message\": \"removed\"`: gone");
    assert_eq!(plain.status, None);
    assert_eq!(
        judge(&plain, &plain.texts, 0, "\"message\": \"removed\""),
        Ok(())
    );
    assert_eq!(
        judge(&plain, &plain.texts, 1, "\"message\": \"removed\""),
        Err("exited 1".to_owned())
    );
    assert!(Expect::parse("`unclosed").is_err());
    assert_eq!(
        variables("\"client_cert_sha256\":\"$NEW_FP\" ${ORG}x $"),
        ["NEW_FP", "ORG"]
    );
    assert!(!contains_pattern("a b", "b … a"));
}
