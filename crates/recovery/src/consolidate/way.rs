//! One direction of a plan: the guarded statements that turn a database at `a` into `b`.
//! The upgrade is `a = from, b = to`; the downgrade the same machinery the other way.

use std::collections::BTreeSet;

use gate_schema::Snapshot;

use super::{GuardedStatement, Leftover, objects, tables, types};

pub(super) struct Way<'s> {
    pub a: &'s Snapshot,
    pub b: &'s Snapshot,
    pub out: Vec<GuardedStatement>,
    pub left: Vec<Leftover>,
    /// Enums whose labels are removed or reordered: the type is made again.
    pub recreated: BTreeSet<String>,
    /// Views of `a` that must go before columns change under them, and come back after.
    pub affected_views: BTreeSet<String>,
}

impl<'s> Way<'s> {
    pub fn push(&mut self, object: impl Into<String>, sql: impl Into<String>) {
        self.out.push(GuardedStatement {
            object: object.into(),
            sql: sql.into(),
        });
    }

    pub fn leave(&mut self, object: impl Into<String>, reason: impl Into<String>) {
        self.left.push(Leftover {
            object: object.into(),
            reason: reason.into(),
        });
    }
}

/// Removals first, dependents before what they depend on; then creations and changes,
/// dependencies first. Each step is guarded on its own, so any prefix of the list can be run
/// again.
pub(super) fn run<'s>(a: &'s Snapshot, b: &'s Snapshot) -> Way<'s> {
    let mut w = Way {
        a,
        b,
        out: Vec::new(),
        left: Vec::new(),
        recreated: types::recreated_enums(a, b),
        affected_views: BTreeSet::new(),
    };
    w.affected_views = objects::affected_views(&w);

    objects::drop_triggers(&mut w);
    objects::drop_views(&mut w);
    objects::drop_indexes(&mut w);
    tables::drop_constraints(&mut w);
    tables::drop_columns(&mut w);
    tables::drop_tables(&mut w);
    objects::drop_functions(&mut w);
    objects::drop_sequences(&mut w);
    types::drop_domains(&mut w);
    types::drop_enums(&mut w);
    objects::drop_extensions(&mut w);
    objects::drop_schemas(&mut w);

    objects::create_schemas(&mut w);
    objects::create_extensions(&mut w);
    types::enums(&mut w);
    types::domains(&mut w);
    objects::create_sequences(&mut w);
    tables::create_tables(&mut w);
    tables::alter_columns(&mut w);
    objects::sequence_owners(&mut w);
    objects::create_functions(&mut w);
    tables::add_constraints(&mut w);
    objects::create_indexes(&mut w, false);
    objects::create_views(&mut w);
    objects::create_indexes(&mut w, true);
    objects::create_triggers(&mut w);
    w
}
