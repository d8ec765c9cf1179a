//! The baselines NF agents are measured against: Gaussian, diffusion and flow-matching policies and value-based methods (filled by the NF-algorithms issue; nothing here yet).
