//! `-o yaml` and `-o json`: keys by indentation, one Kubernetes object at a time.

use super::*;

impl Parser {
    pub(super) fn tree_line(&mut self, mut t: Box<Tree>, l: &Line<'_>) -> Option<Mode> {
        let parsed = tree_parse(l.text, t.json);
        if let Some(indent) = t.block_scalar {
            let deeper = l.text.len() - l.text.trim_start().len() > indent;
            if l.text.trim().is_empty() || deeper {
                return Some(Mode::Tree(t));
            }
            t.block_scalar = None;
        }
        match parsed {
            TreeLine::Blank => Some(Mode::Tree(t)),
            TreeLine::DocStart => {
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
                t.stack.clear();
                Some(Mode::Tree(t))
            }
            TreeLine::Close { indent } => {
                if let Some(obj) = &mut t.obj {
                    obj.acc.add(line_health(l.text), l.at.no);
                }
                if indent == 0 && t.json {
                    if let Some(obj) = t.obj.take() {
                        self.flush_object(obj);
                    }
                    return Some(Mode::Plain);
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Item { indent } => {
                while t.stack.last().is_some_and(|(i, _)| *i > indent) {
                    t.stack.pop();
                }
                if let Some(obj) = &mut t.obj {
                    obj.owner = (None, None);
                    // A bare list item is data (args, finalizers, hosts),
                    // never a status the tool reports.
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Pair {
                indent,
                key,
                value,
                opens,
                item,
            } => {
                while t.stack.last().is_some_and(|(i, _)| *i >= indent) {
                    t.stack.pop();
                }
                if item {
                    if let Some(obj) = &mut t.obj {
                        obj.owner = (None, None);
                    }
                }
                let depth = t.stack.len();
                let at_root = depth == 0 || t.stack.last().is_some_and(|(_, k)| k == "items");
                if at_root && matches!(key, "apiVersion" | "kind" | "metadata") {
                    let fresh = match &t.obj {
                        None => true,
                        Some(o) => o.root != depth || o.seen.contains(&key.to_string()),
                    };
                    if fresh {
                        if let Some(obj) = t.obj.take() {
                            self.flush_object(obj);
                        }
                        t.obj = Some(Obj::new(depth));
                    }
                }
                if let Some(obj) = &t.obj {
                    if depth < obj.root {
                        let obj = t.obj.take().expect("checked");
                        self.flush_object(obj);
                    }
                }
                if let Some(obj) = &mut t.obj {
                    let rel: Vec<&str> = t.stack[obj.root..]
                        .iter()
                        .map(|(_, k)| k.as_str())
                        .collect();
                    obj.pair(&rel, key, value, l);
                }
                if !t.json && (value.starts_with('|') || value.starts_with('>')) {
                    t.block_scalar = Some(indent);
                }
                if opens {
                    t.stack.push((indent, key.to_string()));
                }
                Some(Mode::Tree(t))
            }
            TreeLine::Other => {
                if t.json || l.text.starts_with(char::is_whitespace) {
                    // Inside a document: a line we do not read.
                    return Some(Mode::Tree(t));
                }
                if let Some(obj) = t.obj.take() {
                    self.flush_object(obj);
                }
                None
            }
        }
    }

    pub(super) fn flush_object(&mut self, obj: Obj) {
        let rank = obj.acc.rank(|n| Scope::Block("object", n));
        if let Some((why, n)) = obj.acc.worst.or(obj.acc.healthy) {
            self.observe(why, n);
        }
        let out = obj.facts();
        self.emit(out, rank);
    }
}

#[derive(Default)]
pub(super) struct Tree {
    pub(super) json: bool,
    pub(super) stack: Vec<(usize, String)>,
    pub(super) obj: Option<Obj>,
    pub(super) block_scalar: Option<usize>,
}

impl Tree {
    pub(super) fn start(line: &str) -> Option<Tree> {
        let t = line.trim_end();
        let yaml = t.starts_with("apiVersion:")
            || t.starts_with("kind:")
            || t == "metadata:"
            || t == "items:"
            || t.starts_with("- apiVersion:")
            || t == "---";
        let json = t == "{";
        (yaml || json).then(|| Tree {
            json,
            ..Tree::default()
        })
    }
}

pub(super) enum TreeLine<'a> {
    Blank,
    DocStart,
    Close {
        indent: usize,
    },
    Item {
        indent: usize,
    },
    Pair {
        indent: usize,
        key: &'a str,
        value: &'a str,
        opens: bool,
        item: bool,
    },
    Other,
}

pub(super) fn tree_parse(line: &str, json: bool) -> TreeLine<'_> {
    let body = line.trim_end();
    if body.trim().is_empty() {
        return TreeLine::Blank;
    }
    let indent = body.len() - body.trim_start().len();
    let mut rest = &body[indent..];
    if json {
        let rest = rest.trim_end_matches(',');
        if rest == "{" || rest == "[" {
            return TreeLine::Item { indent };
        }
        if rest.starts_with('}') || rest.starts_with(']') {
            return TreeLine::Close { indent };
        }
        let Some(r) = rest.strip_prefix('"') else {
            return TreeLine::Other;
        };
        let Some((key, after)) = r.split_once('"') else {
            return TreeLine::Other;
        };
        let Some(value) = after.trim_start().strip_prefix(':') else {
            return TreeLine::Other;
        };
        let value = value.trim();
        let opens = value == "{" || value == "[";
        let value = if opens { "" } else { value };
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        return TreeLine::Pair {
            indent,
            key,
            value,
            opens,
            item: false,
        };
    }
    if rest == "---" {
        return TreeLine::DocStart;
    }
    let mut item = false;
    let mut key_indent = indent;
    if rest == "-" || rest.starts_with("- ") {
        item = true;
        let after = rest[1..].trim_start();
        key_indent = indent + (rest.len() - after.len());
        rest = after;
        if rest.is_empty() {
            return TreeLine::Item { indent };
        }
    }
    let split = if let Some(r) = rest.strip_prefix('"') {
        r.split_once("\":")
    } else if let Some(r) = rest.strip_prefix('\'') {
        r.split_once("':")
    } else {
        match rest.find(": ") {
            Some(i) => Some((&rest[..i], &rest[i + 1..])),
            None => rest.strip_suffix(':').map(|k| (k, "")),
        }
    };
    let Some((key, value)) = split else {
        return if item {
            TreeLine::Item { indent }
        } else {
            TreeLine::Other
        };
    };
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-".contains(&b));
    if !key_ok {
        return if item {
            TreeLine::Item { indent }
        } else {
            TreeLine::Other
        };
    }
    let value = value.trim();
    let opens = value.is_empty();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    TreeLine::Pair {
        indent: key_indent,
        key,
        value,
        opens,
        item,
    }
}

/// One Kubernetes object of a YAML or JSON document.
pub(super) struct Obj {
    /// Depth of the object's own keys in the key stack.
    pub(super) root: usize,
    pub(super) seen: Vec<String>,
    pub(super) kind: Option<String>,
    pub(super) name: Option<(String, At)>,
    pub(super) namespace: Option<(String, At)>,
    pub(super) labels: Vec<(String, String, At)>,
    pub(super) match_labels: Vec<(String, String, At)>,
    pub(super) service_selector: Vec<(String, String, At)>,
    pub(super) owners: Vec<(String, String, At)>,
    pub(super) owner: (Option<String>, Option<(String, At)>),
    pub(super) node: Option<(String, At)>,
    pub(super) storage_class: Option<(String, At)>,
    pub(super) containers: Vec<(String, At)>,
    pub(super) acc: Acc,
}

impl Obj {
    pub(super) fn new(root: usize) -> Obj {
        Obj {
            root,
            seen: Vec::new(),
            kind: None,
            name: None,
            namespace: None,
            labels: Vec::new(),
            match_labels: Vec::new(),
            service_selector: Vec::new(),
            owners: Vec::new(),
            owner: (None, None),
            node: None,
            storage_class: None,
            containers: Vec::new(),
            acc: Acc::default(),
        }
    }

    pub(super) fn pair(&mut self, rel: &[&str], key: &str, value: &str, l: &Line<'_>) {
        if ranks(rel, key) {
            self.acc.add(line_health(l.text), l.at.no);
        }
        let at = l.at;
        let keep = |list: &mut Vec<(String, String, At)>| {
            if list.len() < MAX_ENTRIES && !value.is_empty() {
                list.push((key.to_string(), value.to_string(), at));
            }
        };
        match rel {
            [] => {
                if matches!(key, "apiVersion" | "kind" | "metadata") {
                    self.seen.push(key.to_string());
                }
                if key == "kind" {
                    self.kind = Some(value.to_string());
                }
            }
            ["metadata"] => match key {
                "name" => self.name = Some((value.to_string(), at)),
                "namespace" => self.namespace = Some((value.to_string(), at)),
                _ => {}
            },
            ["metadata", "labels"] => keep(&mut self.labels),
            ["spec", "selector", "matchLabels"] => keep(&mut self.match_labels),
            ["spec", "selector"] if key != "matchLabels" && key != "matchExpressions" => {
                keep(&mut self.service_selector)
            }
            ["metadata", "ownerReferences"] => {
                match key {
                    "kind" => self.owner.0 = Some(value.to_string()),
                    "name" => self.owner.1 = Some((value.to_string(), at)),
                    _ => {}
                }
                if let (Some(kind), Some((name, at))) = &self.owner {
                    if self.owners.len() < MAX_ENTRIES {
                        self.owners.push((kind.clone(), name.clone(), *at));
                    }
                    self.owner = (None, None);
                }
            }
            ["spec"] => match key {
                "nodeName" => self.node = Some((value.to_string(), at)),
                "storageClassName" => self.storage_class = Some((value.to_string(), at)),
                _ => {}
            },
            ["spec", "containers"] | ["spec", "template", "spec", "containers"]
                if key == "name" && self.containers.len() < MAX_ENTRIES =>
            {
                self.containers.push((value.to_string(), at));
            }
            _ => {}
        }
    }

    pub(super) fn facts(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        let kind = self.kind.as_deref().and_then(kube_kind);
        if let (Some(kind), Some((name, at))) = (kind, &self.name) {
            if kind == "pod" {
                out.put("pod", name, *at, How::Printed);
                let owned_by_rs = self.owners.iter().any(|(k, _, _)| k == "ReplicaSet");
                if !owned_by_rs {
                    if let Some((deployment, _)) = deployment_of_pod(name) {
                        out.put("deployment", deployment, *at, How::DeploymentOfPod(name));
                    }
                }
            } else {
                object_facts(&mut out, kind, name, *at);
            }
        }
        if let Some((ns, at)) = &self.namespace {
            out.put("namespace", ns, *at, How::Printed);
        }
        let as_selector = |list: &[(String, String, At)]| {
            list.iter()
                .map(|(k, v, _)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        if let Some((_, _, at)) = self.match_labels.first() {
            out.put(
                "selector",
                &as_selector(&self.match_labels),
                *at,
                How::Note("spec.selector.matchLabels, written as k=v"),
            );
        }
        if kind == Some("service") {
            if let Some((_, _, at)) = self.service_selector.first() {
                out.put(
                    "selector",
                    &as_selector(&self.service_selector),
                    *at,
                    How::Note("the Service's spec.selector, written as k=v"),
                );
            }
        }
        if kind == Some("pod") {
            if let Some((_, _, at)) = self.labels.first() {
                let pod = self.name.as_ref().map_or("", |(n, _)| n.as_str());
                let labels: Vec<String> = self
                    .labels
                    .iter()
                    .map(|(k, v, _)| format!("{k}={v}"))
                    .collect();
                if let Some(sel) = selector_of_labels(labels.iter().map(String::as_str)) {
                    out.put("selector", &sel, *at, How::SelectorOfPod(pod));
                }
            }
        }
        for (k, v, at) in &self.labels {
            out.put(&norm(k), v, *at, How::Printed);
        }
        for (kind, name, at) in &self.owners {
            if let Some(kind) = kube_kind(kind) {
                object_facts(&mut out, kind, name, *at);
            }
        }
        if let Some((node, at)) = &self.node {
            out.put("node", node, *at, How::Printed);
        }
        if let Some((sc, at)) = &self.storage_class {
            out.put("storage_class", sc, *at, How::Printed);
        }
        for (c, at) in &self.containers {
            out.put("container", c, *at, How::Printed);
        }
        out
    }
}

/// Does this field of an object say how the object is doing? Its status
/// and an event's own fields do; free text does not, nor what the object
/// was told or tagged with (`metadata`, `spec`): a workload writes
/// messages, annotations and arguments, and a hostile one must not make a
/// healthy object rank as failing.
fn ranks(rel: &[&str], key: &str) -> bool {
    !matches!(rel.first(), Some(&"metadata") | Some(&"spec"))
        && !matches!(
            norm(key).as_str(),
            "message" | "msg" | "note" | "description" | "annotations"
        )
}
