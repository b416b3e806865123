//! `kubectl describe`: `Key:  value` fields, labels, containers.

use super::*;

impl Parser {
    pub(super) fn describe_line(&mut self, mut d: Box<Describe>, l: &Line<'_>) -> Option<Mode> {
        if l.text.trim().is_empty() {
            self.flush_describe(*d);
            return Some(Mode::Plain);
        }
        if l.text.starts_with("Name:") && !d.fields.is_empty() {
            let kind = d.cmd_kind;
            self.flush_describe(*d);
            let mut next = Describe::new(kind);
            next.line(l);
            return Some(Mode::Describe(Box::new(next)));
        }
        if !l.text.starts_with(char::is_whitespace) && describe_field(l.text).is_none() {
            self.flush_describe(*d);
            return None;
        }
        d.line(l);
        Some(Mode::Describe(d))
    }

    pub(super) fn flush_describe(&mut self, d: Describe) {
        let rank = d.acc.rank(|n| Scope::Block("describe output", n));
        if let Some((why, n)) = d.acc.worst.or(d.acc.healthy) {
            self.observe(why, n);
        }
        let out = d.facts();
        self.emit(out, rank);
    }
}

/// `Controlled By:  ReplicaSet/checkout-7d9f8c6b5` → (`Controlled By`, value).
pub(super) fn describe_field(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let ok = key.starts_with(|c: char| c.is_ascii_uppercase())
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ()./-".contains(c));
    (ok && (value.is_empty() || value.starts_with(char::is_whitespace)))
        .then_some((key, value.trim()))
}

pub(super) struct Describe {
    pub(super) cmd_kind: Option<&'static str>,
    pub(super) fields: Vec<(String, String, At)>,
    pub(super) labels: Vec<(String, At)>,
    pub(super) used_by: Vec<(String, At)>,
    pub(super) containers: Vec<(String, At)>,
    pub(super) last_key: String,
    pub(super) containers_at: Option<usize>,
    pub(super) container_indent: Option<usize>,
    pub(super) acc: Acc,
    /// Inside a `Message:` field (its indent): continuation lines too.
    message_at: Option<usize>,
    in_events: bool,
}

impl Describe {
    pub(super) fn new(cmd_kind: Option<&'static str>) -> Describe {
        Describe {
            cmd_kind,
            fields: Vec::new(),
            labels: Vec::new(),
            used_by: Vec::new(),
            containers: Vec::new(),
            last_key: String::new(),
            containers_at: None,
            container_indent: None,
            acc: Acc::default(),
            message_at: None,
            in_events: false,
        }
    }

    pub(super) fn line(&mut self, l: &Line<'_>) {
        let text = l.text;
        let indent = text.len() - text.trim_start().len();
        let trimmed = text.trim();
        let why = self.health(text, indent, trimmed);
        self.acc.add(why, l.at.no);
        if let Some(ci) = self.containers_at {
            if indent <= ci {
                self.containers_at = None;
                self.container_indent = None;
            }
        }
        if indent == 0 {
            if let Some((key, value)) = describe_field(text) {
                self.last_key = key.to_string();
                match key {
                    "Labels" => self.push_label(value, l.at),
                    "Used By" => self.push_used_by(value, l.at),
                    "Containers" | "Init Containers" => {
                        self.containers_at = Some(0);
                        self.container_indent = None;
                    }
                    _ => {}
                }
                if self.fields.len() < MAX_ENTRIES {
                    self.fields.push((key.to_string(), value.to_string(), l.at));
                }
            }
            return;
        }
        if let Some(ci) = self.containers_at {
            let at_level = self.container_indent.is_none_or(|c| c == indent);
            if indent > ci && at_level {
                if let Some(name) = trimmed.strip_suffix(':') {
                    let ok = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                    if ok {
                        self.container_indent = Some(indent);
                        if self.containers.len() < MAX_ENTRIES {
                            self.containers.push((name.to_string(), l.at));
                        }
                        return;
                    }
                }
            }
        }
        if matches!(trimmed, "Containers:" | "Init Containers:") {
            self.containers_at = Some(indent);
            self.container_indent = None;
            return;
        }
        // Continuation lines of a multi-line field.
        if !trimmed.contains(char::is_whitespace) {
            match self.last_key.as_str() {
                "Labels" => self.push_label(trimmed, l.at),
                "Used By" => self.push_used_by(trimmed, l.at),
                _ => {}
            }
        }
    }

    /// What a line says. Messages (a condition's, a container state's, the
    /// message column of Events) are text a workload wrote: their failure
    /// words rank below the object's own Status, State, Reason and Ready.
    fn health(&mut self, text: &str, indent: usize, trimmed: &str) -> Why {
        if self.message_at.is_some_and(|at| indent <= at) {
            self.message_at = None;
        }
        if indent == 0 {
            self.in_events = text.starts_with("Events:");
        }
        if self.message_at.is_some() {
            return said(text);
        }
        if trimmed.starts_with("Message:") {
            self.message_at = Some(indent);
            return said(text);
        }
        if self.in_events && indent > 0 {
            // `Type  Reason  Age  From  Message`: the first two are kubectl's.
            let mut words = trimmed.split_whitespace();
            let status: String = words.by_ref().take(2).collect::<Vec<_>>().join(" ");
            let rest: String = words.collect::<Vec<_>>().join(" ");
            let (a, b) = (line_health(&status), said(&rest));
            return if (b.class(), b.weight()) > (a.class(), a.weight()) {
                b
            } else {
                a
            };
        }
        line_health(text)
    }

    pub(super) fn push_label(&mut self, value: &str, at: At) {
        if value.contains('=') && self.labels.len() < MAX_ENTRIES {
            self.labels.push((value.to_string(), at));
        }
    }

    pub(super) fn push_used_by(&mut self, value: &str, at: At) {
        if clean_value(value).is_some() && self.used_by.len() < MAX_ENTRIES {
            self.used_by.push((value.to_string(), at));
        }
    }

    pub(super) fn field(&self, key: &str) -> Option<(&str, At)> {
        self.fields
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, at)| (v.as_str(), *at))
    }

    pub(super) fn kind(&self) -> Option<&'static str> {
        let has = |k: &str| self.field(k).is_some();
        if let Some((k, _)) = self.field("Kind") {
            return kube_kind(k);
        }
        if let Some(kind) = self.cmd_kind {
            return Some(kind);
        }
        Some(
            if has("Pods Status") && has("Desired Number of Nodes Scheduled") {
                "daemonset"
            } else if has("Pods Status") && has("Update Strategy") {
                "statefulset"
            } else if has("Pods Status") && has("Selector") {
                "replicaset"
            } else if has("StrategyType") || has("NewReplicaSet") {
                "deployment"
            } else if has("Controlled By") || (has("Node") && (has("IP") || has("Containers"))) {
                "pod"
            } else if has("Roles") || has("Taints") || has("Unschedulable") {
                "node"
            } else if has("StorageClass") && (has("Used By") || has("Access Modes")) {
                "pvc"
            } else if has("Reference") && has("Min replicas") {
                "hpa"
            } else if has("IP Families") || has("Endpoints") {
                "service"
            } else {
                return None;
            },
        )
    }

    pub(super) fn facts(&self) -> Vec<Pending> {
        let mut out = Vec::new();
        let kind = self.kind();
        let name = self.field("Name");
        if let (Some(kind), Some((name, at))) = (kind, name) {
            object_facts(&mut out, kind, name, at);
        }
        for (key, value, at) in &self.fields {
            let (value, at) = (value.as_str(), *at);
            match key.as_str() {
                "Name" | "Labels" | "Annotations" | "Used By" | "Kind" => {}
                "Namespace" => out.put("namespace", value, at, How::Printed),
                "Selector" => {
                    if kind != Some("node") {
                        out.put("selector", value, at, How::Printed);
                    }
                }
                "Node" => {
                    let node = value.split('/').next().unwrap_or("");
                    let how = if value.contains('/') {
                        How::Note("the node name before its address")
                    } else {
                        How::Printed
                    };
                    out.put("node", node, at, how);
                }
                "Controlled By" | "Reference" => {
                    if let Some((k, n)) = split_kind(value) {
                        object_facts(&mut out, k, n, at);
                    }
                }
                "NewReplicaSet" | "OldReplicaSets" => {
                    if let Some(rs) = value.split_whitespace().next() {
                        object_facts(&mut out, "replicaset", rs, at);
                    }
                }
                "StorageClass" => out.put("storage_class", value, at, How::Printed),
                _ => {
                    let k = norm(key);
                    if !value.is_empty() && !is_secret_key(&k) {
                        out.put(&k, value, at, How::Printed);
                    }
                }
            }
        }
        if kind == Some("pod") {
            let pod = name.map_or("", |(n, _)| n);
            if let Some(sel) = selector_of_labels(self.labels.iter().map(|(l, _)| l.as_str())) {
                let at = self.labels[0].1;
                out.put("selector", &sel, at, How::SelectorOfPod(pod));
            }
        }
        for (label, at) in &self.labels {
            if let Some((k, v)) = label.split_once('=') {
                out.put(&norm(k), v, *at, How::Printed);
            }
        }
        for (pod, at) in &self.used_by {
            out.put("pod", pod, *at, How::Printed);
        }
        for (c, at) in &self.containers {
            out.put("container", c, *at, How::Printed);
        }
        out
    }
}
