//! NF-BC, NF-GCBC, NF-RLBC and NF-UGS: the paper's recipes on top of `nf-core` (filled by the NF-algorithms issue; nothing here yet).
