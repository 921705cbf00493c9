//! The `weir` binary's larger subcommands, one file each.

pub mod admin;
pub mod plugin;
