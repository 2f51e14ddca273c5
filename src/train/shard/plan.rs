//! The K/N plan: which shard a descriptor block and a document fall in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Shard `index` of `count` (both from 1: `--shard 2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    index: u32,
    count: u32,
}

impl ShardSpec {
    pub fn new(index: u32, count: u32) -> Result<ShardSpec> {
        if count == 0 || index == 0 || index > count {
            return Err(Error::param(
                "shard",
                format!("{index}/{count} is no shard: K/N needs 1 ≤ K ≤ N"),
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// Reads `K/N`.
    pub fn parse(s: &str) -> Result<ShardSpec> {
        let bad = || {
            Error::param(
                "shard",
                format!("{s:?} is not K/N (shard K of N, counted from 1, e.g. 2/3)"),
            )
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        ShardSpec::new(k, n)
    }

    /// K, from 1.
    pub fn index(self) -> u32 {
        self.index
    }

    /// N.
    pub fn count(self) -> u32 {
        self.count
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (from 1) of each of `blocks` blocks: dealt in a snake order, 1, 2, …, N, N, …,
/// 2, 1, 1, 2, …, so that the frequent (costly) blocks at the front spread over every shard.
pub fn shard_of_blocks(blocks: usize, shards: u32) -> Vec<u32> {
    let n = shards.max(1) as usize;
    (0..blocks)
        .map(|b| {
            let (round, place) = (b / n, b % n);
            let from_zero = if round % 2 == 0 { place } else { n - 1 - place };
            from_zero as u32 + 1
        })
        .collect()
}

/// The documents whose neighbours' votes `shard` computes: every N-th from the K-th.
pub fn shard_documents(documents: usize, shard: ShardSpec) -> Vec<usize> {
    (shard.index as usize - 1..documents)
        .step_by(shard.count as usize)
        .collect()
}
