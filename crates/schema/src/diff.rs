//! Object-level differences between two snapshots, worded for a reviewer:
//! `column public.users.email: type text in replay, character varying(255) in reference`.

use std::collections::{BTreeMap, BTreeSet};

use crate::Difference;
use crate::model::{Snapshot, Table};

struct Differ<'n> {
    out: Vec<Difference>,
    a: &'n str,
    b: &'n str,
}

impl Differ<'_> {
    fn push(&mut self, object: impl Into<String>, detail: impl Into<String>) {
        self.out.push(Difference {
            object: object.into(),
            detail: detail.into(),
        });
    }

    /// Objects present on one side only, then `both` for each object present on both.
    fn keyed<V>(
        &mut self,
        kind: &str,
        a: &BTreeMap<String, V>,
        b: &BTreeMap<String, V>,
        mut both: impl FnMut(&mut Self, &str, &V, &V),
    ) {
        for (name, va) in a {
            match b.get(name) {
                Some(vb) => both(self, &format!("{kind} {name}"), va, vb),
                None => {
                    let d = format!("only in {}", self.a);
                    self.push(format!("{kind} {name}"), d);
                }
            }
        }
        for name in b.keys().filter(|k| !a.contains_key(*k)) {
            let d = format!("only in {}", self.b);
            self.push(format!("{kind} {name}"), d);
        }
    }

    /// A short value such as a type or a number: `type text in replay, integer in reference`.
    fn field(&mut self, object: &str, field: &str, va: &str, vb: &str) {
        if va != vb {
            let d = format!("{field} {va} in {}, {vb} in {}", self.a, self.b);
            self.push(object, d);
        }
    }

    fn opt_field(&mut self, object: &str, field: &str, va: &Option<String>, vb: &Option<String>) {
        if va != vb {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
            self.field(object, field, &show(va), &show(vb));
        }
    }

    /// An SQL expression or definition, quoted so its spaces do not blur the sentence.
    fn expr(&mut self, object: &str, field: &str, va: &Option<String>, vb: &Option<String>) {
        if va == vb {
            return;
        }
        let (a, b) = (va.as_deref().unwrap_or(""), vb.as_deref().unwrap_or(""));
        let show = |v: &Option<String>, line: &str| match v {
            None => "none".to_owned(),
            Some(_) => format!("`{line}`"),
        };
        if a.contains('\n') || b.contains('\n') {
            // Multi-line bodies: the first line that differs is what a reviewer needs.
            let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            let n = (0..la.len().max(lb.len()))
                .find(|&i| la.get(i) != lb.get(i))
                .unwrap_or(0);
            let (xa, xb) = (
                la.get(n).copied().unwrap_or(""),
                lb.get(n).copied().unwrap_or(""),
            );
            let d = format!(
                "{field} differs at line {}: {} in {}, {} in {}",
                n + 1,
                show(va, xa),
                self.a,
                show(vb, xb),
                self.b
            );
            self.push(object, d);
        } else {
            let d = format!(
                "{field} {} in {}, {} in {}",
                show(va, a),
                self.a,
                show(vb, b),
                self.b
            );
            self.push(object, d);
        }
    }

    fn table(&mut self, object: &str, name: &str, a: &Table, b: &Table) {
        self.field(object, "kind", &a.kind, &b.kind);
        self.expr(object, "partition key", &a.partition_key, &b.partition_key);
        self.opt_field(object, "partition of", &a.partition_of, &b.partition_of);
        self.expr(
            object,
            "partition bound",
            &a.partition_bound,
            &b.partition_bound,
        );

        // Columns are matched by name: adding a column later puts it at the end, which is not
        // a schema difference a migration can be blamed for.
        let cb: BTreeMap<&str, _> = b.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        let ca: BTreeMap<&str, _> = a.columns.iter().map(|c| (c.name.as_str(), c)).collect();
        for col in &a.columns {
            let Some(other) = cb.get(col.name.as_str()) else {
                let d = format!("column {} only in {}", col.name, self.a);
                self.push(object, d);
                continue;
            };
            let o = format!("column {name}.{}", col.name);
            self.field(&o, "type", &col.data_type, &other.data_type);
            if col.not_null != other.not_null {
                let show = |n: bool| if n { "not null" } else { "nullable" };
                let d = format!(
                    "{} in {}, {} in {}",
                    show(col.not_null),
                    self.a,
                    show(other.not_null),
                    self.b
                );
                self.push(&o, d);
            }
            self.expr(&o, "default", &col.default, &other.default);
            self.opt_field(&o, "identity", &col.identity, &other.identity);
            self.expr(&o, "generated", &col.generated, &other.generated);
            self.opt_field(&o, "collation", &col.collation, &other.collation);
        }
        for col in b
            .columns
            .iter()
            .filter(|c| !ca.contains_key(c.name.as_str()))
        {
            let d = format!("column {} only in {}", col.name, self.b);
            self.push(object, d);
        }

        for (cname, con) in &a.constraints {
            match b.constraints.get(cname) {
                None => {
                    let d = format!("constraint {cname} only in {}", self.a);
                    self.push(object, d);
                }
                Some(other) => {
                    let o = format!("constraint {name}.{cname}");
                    self.field(&o, "kind", &con.kind, &other.kind);
                    self.expr(
                        &o,
                        "definition",
                        &Some(con.definition.clone()),
                        &Some(other.definition.clone()),
                    );
                }
            }
        }
        for cname in b.constraints.keys() {
            if !a.constraints.contains_key(cname) {
                let d = format!("constraint {cname} only in {}", self.b);
                self.push(object, d);
            }
        }
    }

    fn labels(&mut self, object: &str, a: &[String], b: &[String]) {
        let (sa, sb): (BTreeSet<&String>, BTreeSet<&String>) =
            (a.iter().collect(), b.iter().collect());
        for l in a.iter().filter(|l| !sb.contains(l)) {
            let d = format!("label '{l}' only in {}", self.a);
            self.push(object, d);
        }
        for l in b.iter().filter(|l| !sa.contains(l)) {
            let d = format!("label '{l}' only in {}", self.b);
            self.push(object, d);
        }
        // Order matters for enums: comparisons and ORDER BY follow it.
        let common_a: Vec<&String> = a.iter().filter(|l| sb.contains(l)).collect();
        let common_b: Vec<&String> = b.iter().filter(|l| sa.contains(l)).collect();
        if common_a != common_b {
            let d = format!(
                "labels in different order: [{}] in {}, [{}] in {}",
                a.join(", "),
                self.a,
                b.join(", "),
                self.b
            );
            self.push(object, d);
        }
    }
}

pub(crate) fn diff(a: &Snapshot, b: &Snapshot, a_name: &str, b_name: &str) -> Vec<Difference> {
    let mut d = Differ {
        out: Vec::new(),
        a: a_name,
        b: b_name,
    };
    d.keyed("schema", &a.schemas, &b.schemas, |_, _, _, _| {});
    d.keyed("extension", &a.extensions, &b.extensions, |d, o, x, y| {
        d.field(o, "schema", &x.schema, &y.schema);
        d.field(o, "version", &x.version, &y.version);
    });
    d.keyed("table", &a.tables, &b.tables, |d, o, x, y| {
        let name = o.strip_prefix("table ").unwrap_or(o);
        d.table(o, name, x, y);
    });
    d.keyed("view", &a.views, &b.views, |d, o, x, y| {
        d.field(o, "kind", &x.kind, &y.kind);
        d.expr(
            o,
            "definition",
            &Some(x.definition.clone()),
            &Some(y.definition.clone()),
        );
    });
    d.keyed("index", &a.indexes, &b.indexes, |d, o, x, y| {
        d.field(o, "table", &x.table, &y.table);
        d.opt_field(o, "constraint", &x.constraint, &y.constraint);
        d.expr(o, "definition", &x.definition, &y.definition);
    });
    d.keyed("sequence", &a.sequences, &b.sequences, |d, o, x, y| {
        d.field(o, "type", &x.data_type, &y.data_type);
        d.field(o, "start", &x.start.to_string(), &y.start.to_string());
        d.field(
            o,
            "increment",
            &x.increment.to_string(),
            &y.increment.to_string(),
        );
        d.field(o, "min", &x.min.to_string(), &y.min.to_string());
        d.field(o, "max", &x.max.to_string(), &y.max.to_string());
        d.field(o, "cache", &x.cache.to_string(), &y.cache.to_string());
        d.field(o, "cycle", &x.cycle.to_string(), &y.cycle.to_string());
        d.opt_field(o, "owned by", &x.owned_by, &y.owned_by);
    });
    d.keyed("enum", &a.enums, &b.enums, |d, o, x, y| {
        d.labels(o, &x.labels, &y.labels);
    });
    d.keyed("domain", &a.domains, &b.domains, |d, o, x, y| {
        d.field(o, "type", &x.data_type, &y.data_type);
        if x.not_null != y.not_null {
            let show = |n: bool| if n { "not null" } else { "nullable" };
            let det = format!(
                "{} in {}, {} in {}",
                show(x.not_null),
                d.a,
                show(y.not_null),
                d.b
            );
            d.push(o, det);
        }
        d.expr(o, "default", &x.default, &y.default);
        d.opt_field(o, "collation", &x.collation, &y.collation);
        for (name, def) in &x.checks {
            match y.checks.get(name) {
                None => {
                    let det = format!("check {name} only in {}", d.a);
                    d.push(o, det);
                }
                Some(other) => d.expr(
                    o,
                    &format!("check {name}"),
                    &Some(def.clone()),
                    &Some(other.clone()),
                ),
            }
        }
        for name in y.checks.keys().filter(|k| !x.checks.contains_key(*k)) {
            let det = format!("check {name} only in {}", d.b);
            d.push(o, det);
        }
    });
    d.keyed("function", &a.functions, &b.functions, |d, o, x, y| {
        d.field(o, "kind", &x.kind, &y.kind);
        d.opt_field(o, "result", &x.result, &y.result);
        d.field(o, "language", &x.language, &y.language);
        d.expr(o, "definition", &x.definition, &y.definition);
    });
    d.keyed("trigger", &a.triggers, &b.triggers, |d, o, x, y| {
        d.field(o, "table", &x.table, &y.table);
        d.expr(
            o,
            "definition",
            &Some(x.definition.clone()),
            &Some(y.definition.clone()),
        );
        // Absent means the default, `ENABLE TRIGGER`.
        let state = |v: &Option<String>| v.clone().unwrap_or_else(|| "enabled".to_owned());
        d.field(o, "state", &state(&x.enabled), &state(&y.enabled));
    });

    let mut out = d.out;
    out.sort_by(|x, y| (&x.object, &x.detail).cmp(&(&y.object, &y.detail)));
    out.dedup();
    out
}
