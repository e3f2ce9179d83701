//! A segment-by-segment matcher giving `matchit`'s answers for the common tables at a
//! fraction of the cost: whole-segment parameters (`{id}`), a trailing catch-all
//! (`{*rest}`), and no two templates that could match one path (so `matchit`'s priorities
//! never come into play). Any other table is left to `matchit`.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    /// One non-empty segment.
    Param,
    /// The rest of the path, at least one character.
    CatchAll,
}

#[derive(Clone, Debug)]
struct Template {
    index: usize,
    segments: Box<[Segment]>,
}

impl Template {
    fn has_catch_all(&self) -> bool {
        self.segments.last() == Some(&Segment::CatchAll)
    }
}

/// Templates grouped by segment count; catch-all templates apart. `None` once a template
/// the matcher cannot decide alone was added.
#[derive(Clone, Debug, Default)]
pub(crate) struct SegmentMatcher {
    state: Option<Tables>,
    disabled: bool,
}

#[derive(Clone, Debug, Default)]
struct Tables {
    by_count: Vec<Vec<Template>>,
    catch_alls: Vec<Template>,
}

impl SegmentMatcher {
    /// Adds `template` (already accepted by `matchit`), or gives up on the fast path.
    pub(crate) fn insert(&mut self, template: &str, index: usize) {
        if self.disabled {
            return;
        }
        let tables = self.state.get_or_insert_with(Tables::default);
        let Some(new) = parse(template, index) else {
            return self.disable();
        };
        let all = tables.by_count.iter().flatten().chain(&tables.catch_alls);
        if all.clone().any(|t| overlap(&t.segments, &new.segments)) {
            return self.disable();
        }
        if new.has_catch_all() {
            tables.catch_alls.push(new);
        } else {
            let n = new.segments.len();
            if tables.by_count.len() <= n {
                tables.by_count.resize_with(n + 1, Vec::new);
            }
            tables.by_count[n].push(new);
        }
    }

    fn disable(&mut self) {
        self.disabled = true;
        self.state = None;
    }

    /// `Some(answer)` when this matcher can decide (`answer` is the template's index, or
    /// `None` for no match); `None` when `matchit` must.
    pub(crate) fn at(&self, path: &str) -> Option<Option<usize>> {
        let tables = self.state.as_ref()?;
        let Some(rest) = path.strip_prefix('/') else {
            return Some(None);
        };
        let segments = Segments::split(rest)?;
        if let Some(candidates) = tables.by_count.get(segments.count) {
            for t in candidates {
                if t.segments
                    .iter()
                    .enumerate()
                    .all(|(i, s)| segment_matches(s, segments.get(rest, i)))
                {
                    return Some(Some(t.index));
                }
            }
        }
        for t in &tables.catch_alls {
            if catch_all_matches(&t.segments, rest, &segments) {
                return Some(Some(t.index));
            }
        }
        Some(None)
    }
}

/// Where a path's segments end, found in one pass over its bytes.
struct Segments {
    ends: [usize; MAX_SEGMENTS],
    count: usize,
}

/// Longer paths go to `matchit`.
const MAX_SEGMENTS: usize = 16;

impl Segments {
    fn split(rest: &str) -> Option<Self> {
        let mut ends = [0; MAX_SEGMENTS];
        let mut count = 0;
        for (i, b) in rest.bytes().enumerate() {
            if b == b'/' {
                *ends.get_mut(count)? = i;
                count += 1;
            }
        }
        *ends.get_mut(count)? = rest.len();
        Some(Self {
            ends,
            count: count + 1,
        })
    }

    fn start(&self, i: usize) -> usize {
        match i {
            0 => 0,
            i => self.ends[i - 1] + 1,
        }
    }

    fn get<'p>(&self, rest: &'p str, i: usize) -> &'p str {
        rest.get(self.start(i)..self.ends[i]).unwrap_or_default()
    }
}

fn segment_matches(segment: &Segment, path: &str) -> bool {
    match segment {
        Segment::Literal(l) => **l == *path,
        Segment::Param => !path.is_empty(),
        Segment::CatchAll => false,
    }
}

/// `segments` ends in a catch-all: the segments before it match the path's first ones, and
/// something is left for the catch-all.
fn catch_all_matches(segments: &[Segment], rest: &str, path: &Segments) -> bool {
    let fixed = segments.len() - 1;
    fixed < path.count
        && segments[..fixed]
            .iter()
            .enumerate()
            .all(|(i, s)| segment_matches(s, path.get(rest, i)))
        && path.start(fixed) < rest.len()
}

/// The segments of a template after its leading `/`, or `None` for syntax this matcher
/// leaves to `matchit` (parameters inside a segment, escaped braces).
fn parse(template: &str, index: usize) -> Option<Template> {
    let rest = template.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let inner = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        let segment = match inner {
            Some(name) if name.contains(['{', '}']) => return None,
            Some(name) if name.starts_with('*') && i == last => Segment::CatchAll,
            Some(name) if name.starts_with('*') => return None,
            Some(_) => Segment::Param,
            None if part.contains(['{', '}']) => return None,
            None => Segment::Literal(part.into()),
        };
        segments.push(segment);
    }
    Some(Template {
        index,
        segments: segments.into(),
    })
}

/// Whether some path could match both templates (conservative: `true` when unsure).
fn overlap(a: &[Segment], b: &[Segment]) -> bool {
    let catch_all = |s: &[Segment]| s.last() == Some(&Segment::CatchAll);
    if !catch_all(a) && !catch_all(b) && a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).all(|pair| match pair {
        (Segment::Literal(x), Segment::Literal(y)) => x == y,
        (Segment::Literal(x), Segment::Param) | (Segment::Param, Segment::Literal(x)) => {
            !x.is_empty()
        }
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::SegmentMatcher;

    /// The same answers as `matchit` for every path built from the templates' pieces.
    #[test]
    fn segment_matcher_should_answer_as_matchit_does() {
        let tables: &[&[&str]] = &[
            &["/hello/{id}", "/metrics"],
            &["/", "/users", "/users/{id}", "/users/{id}/posts/{post}", "/static/{*file}"],
            &["/api/v1/placements", "/api/v1/placements/{id}", "/api/v1/clusters/{name}/status"],
            &["/a/{x}/c", "/a/{x}/d", "/b/{*rest}", "/a"],
            // Overlapping or fancy: the fast matcher must step aside.
            &["/users/me", "/users/{id}"],
            &["/files/{{raw}}", "/files"],
            &["/{*all}", "/x"],
        ];
        let pieces = ["", "hello", "42", "users", "me", "posts", "7", "static", "css", "a.css",
            "metrics", "api", "v1", "placements", "clusters", "status", "a", "b", "c", "d", "x",
            "files", "f.txt"];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n as u64).unwrap()
        };
        for (n, templates) in tables.iter().enumerate() {
            let mut fast = SegmentMatcher::default();
            let mut slow = matchit::Router::new();
            for (i, t) in templates.iter().enumerate() {
                slow.insert(*t, i).unwrap();
                fast.insert(t, i);
            }
            assert_eq!(fast.at("/").is_some(), n < 4, "fast path taken for {templates:?}");
            let mut paths: Vec<String> = templates.iter().map(|t| (*t).to_owned()).collect();
            for _ in 0..3000 {
                let n = 1 + next(5);
                let mut path = String::new();
                for _ in 0..n {
                    path.push('/');
                    path.push_str(pieces[next(pieces.len())]);
                }
                paths.push(path);
            }
            paths.extend(["", "*", "//", "/hello//", "/static/", "/static//x"].map(String::from));
            paths.push("/a".repeat(40));
            paths.push(format!("/static{}", "/x".repeat(40)));
            for path in &paths {
                let expected = slow.at(path).ok().map(|m| *m.value);
                if let Some(answer) = fast.at(path) {
                    assert_eq!(answer, expected, "{templates:?} {path:?}");
                }
            }
        }
        let mut fast = SegmentMatcher::default();
        fast.insert("/users/me", 0);
        fast.insert("/users/{id}", 1);
        assert_eq!(fast.at("/users/me"), None, "overlapping templates go to matchit");
    }
}
