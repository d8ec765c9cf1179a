//! Where a run computes: `cpu` or `cuda:N`, parsed once on the command line (clap calls
//! [`DeviceName::from_str`]) so a typo fails there, listing the valid forms.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use candle_core::Device;

/// A device as the user names it. Not part of a run's identity: a run may resume on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceName {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s == "cpu" {
            return Ok(DeviceName::Cpu);
        }
        match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(id)) => Ok(DeviceName::Cuda(id)),
            _ => Err(format!("`{s}` is not a device; valid: `cpu`, `cuda:N` (N = 0, 1, …)")),
        }
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceName::Cpu => write!(f, "cpu"),
            DeviceName::Cuda(id) => write!(f, "cuda:{id}"),
        }
    }
}

impl DeviceName {
    /// Opens the device, with a clear error when CUDA support is not compiled in.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceName::Cpu => Ok(Device::Cpu),
            DeviceName::Cuda(id) => {
                if !cfg!(feature = "cuda") {
                    bail!("device `{self}`: this xtask was built without CUDA; run `cargo run --release -p xtask --features cuda -- …`");
                }
                Device::new_cuda(id).with_context(|| format!("opening {self}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back_and_typos_list_the_valid_forms() {
        for s in ["cpu", "cuda:0", "cuda:3"] {
            assert_eq!(s.parse::<DeviceName>().unwrap().to_string(), s);
        }
        for bad in ["gpu", "cuda", "cuda:x", "cuda:-1", ""] {
            let err = bad.parse::<DeviceName>().unwrap_err();
            assert!(err.contains("`cpu`") && err.contains("cuda:N"), "{bad}: {err}");
        }
        if !cfg!(feature = "cuda") {
            let err = format!("{:#}", DeviceName::Cuda(0).open().unwrap_err());
            assert!(err.contains("--features cuda"), "{err}");
        }
    }
}
