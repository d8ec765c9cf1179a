//! Parquet copies of the result tables: each table's CSV (`SUITE-SETTING.csv`, its
//! `-ablation.csv`, `SUITE-runs.csv`) gets a `.parquet` beside it with typed columns, for
//! `pl.read_parquet` / `pd.read_parquet` without guessing types from text.
//!
//! Why from the CSV text rather than from the `DataFrame`s: Polars writes Parquet only through
//! polars-io (its `parquet` feature), whose cold build costs many minutes on our 2-core machine
//! (see the figures in [`super`]'s docs), and the ablation table is not a `DataFrame` at all. The
//! CSV bytes are what every table already has, so one converter serves all three, and the
//! Parquet file holds exactly the numbers the CSV shows (the same rounding). It uses the `parquet`
//! crate (arrow-rs) without default features — no `arrow`, no async, no compression codecs — through
//! its low-level `SerializedFileWriter` and typed column writers. Measured cold, in a fresh target
//! directory on the idle 2-core machine, `cargo build -p parquet` with the workspace's profile:
//! 243 s CPU (user + sys), 3 min 48 s wall; 219 s and 2 min 19 s with the `parquet` crate at
//! opt-level 0, which alone builds in 8 s of CPU against 45 s at opt-level 3 (hence its opt-level 0
//! in dev builds). The rest (syn and serde's derive, rand, rayon, chrono, half, …) is shared with
//! crates the workspace builds anyway: in our own target directory, adding it compiled `parquet`
//! and nothing else. No lighter feature set exists: every remaining dependency is mandatory.
//!
//! Types, one row group, UNCOMPRESSED (the tables are a few KiB):
//! - a column whose every non-empty cell parses as an `f64` (Rust's `str::parse`, which also takes
//!   `NaN` and `inf`) is `OPTIONAL DOUBLE`, so integers such as seed counts become doubles;
//! - every other column is `OPTIONAL BYTE_ARRAY` annotated `String` (UTF8);
//! - an empty cell is null in either (a missing run's numbers, a variant without a paper value).
//!   A column with no non-empty cell is an all-null `DOUBLE`.
//!
//! Column names are the CSV header's, verbatim: the schema is built with the type builders, never
//! parsed from a message-type string, so spaces, `@` or `±` in a name need no quoting.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use parquet::basic::{LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// Definition levels of an `OPTIONAL` top-level column: 1 for a value, 0 for a null.
const PRESENT: i16 = 1;
const NULL: i16 = 0;

/// One of our CSV tables (header row, then rows of the same width) as a Parquet file's bytes.
pub fn from_csv(csv: &[u8]) -> Result<Vec<u8>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv);
    let header: Vec<String> = reader.headers().context("reading the CSV header")?.iter().map(str::to_string).collect();
    if header.is_empty() {
        bail!("the CSV has no header row, so no columns to write");
    }
    // Column-major cells; the `csv` reader already rejects a row of another width.
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("reading CSV row {}", i + 1))?;
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            column.push(cell.to_string());
        }
    }

    let numeric: Vec<bool> = columns.iter().map(|cells| cells.iter().all(|c| c.is_empty() || c.parse::<f64>().is_ok())).collect();
    let fields = header
        .iter()
        .zip(&numeric)
        .map(|(name, &numeric)| {
            let field = if numeric {
                Type::primitive_type_builder(name, PhysicalType::DOUBLE)
            } else {
                Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY).with_logical_type(Some(LogicalType::String))
            };
            Ok(Arc::new(field.with_repetition(Repetition::OPTIONAL).build().with_context(|| format!("the Parquet type of column `{name}`"))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(Type::group_type_builder("schema").with_fields(fields).build().context("the Parquet schema")?);
    let props = Arc::new(WriterProperties::builder().build());

    let mut writer = SerializedFileWriter::new(Vec::new(), schema, props)?;
    let mut row_group = writer.next_row_group()?;
    for ((name, cells), numeric) in header.iter().zip(&columns).zip(&numeric) {
        let mut column = row_group.next_column()?.with_context(|| format!("the Parquet writer has no column for `{name}`"))?;
        let levels: Vec<i16> = cells.iter().map(|c| if c.is_empty() { NULL } else { PRESENT }).collect();
        let present = cells.iter().filter(|c| !c.is_empty());
        if *numeric {
            // Every present cell parsed when the type was chosen.
            let values: Vec<f64> = present.map(|c| c.parse().expect("checked numeric above")).collect();
            column.typed::<DoubleType>().write_batch(&values, Some(&levels), None)
        } else {
            let values: Vec<ByteArray> = present.map(|c| ByteArray::from(c.as_str())).collect();
            column.typed::<ByteArrayType>().write_batch(&values, Some(&levels), None)
        }
        .with_context(|| format!("writing column `{name}`"))?;
        column.close()?;
    }
    row_group.close()?;
    Ok(writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::ConvertedType;
    use parquet::file::reader::FileReader;
    use parquet::file::serialized_reader::SerializedFileReader;
    use parquet::record::Field;

    /// A column as the reader sees it: name, physical type, converted type.
    type Column = (String, PhysicalType, ConvertedType);

    /// The Parquet bytes read back through a temporary file: its columns, and each row's fields.
    fn read_back(bytes: &[u8]) -> (Vec<Column>, Vec<Vec<Field>>) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), bytes).unwrap();
        let reader = SerializedFileReader::try_from(tmp.path()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1);
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let columns = schema.columns().iter().map(|c| (c.name().to_string(), c.physical_type(), c.converted_type())).collect();
        let rows = reader.get_row_iter(None).unwrap().map(|r| r.unwrap().get_column_iter().map(|(_, f)| f.clone()).collect()).collect();
        (columns, rows)
    }

    /// Names (one non-ASCII, one with a space and `@`), types, values and nulls round-trip; a
    /// CSV-quoted cell with commas and quotes comes back as its text.
    #[test]
    fn a_table_round_trips_with_types_and_nulls() {
        let csv = "task,mean ± std,nf-gcbc@sigma 0.1,n\n\
                   pusht,0.5,\"row X, native \"\"quoted\"\"\",2\n\
                   cube,,plain,\n\
                   maze,-1.25e2,,3\n";
        let (columns, rows) = read_back(&from_csv(csv.as_bytes()).unwrap());
        assert_eq!(
            columns,
            [
                ("task".to_string(), PhysicalType::BYTE_ARRAY, ConvertedType::UTF8),
                ("mean ± std".to_string(), PhysicalType::DOUBLE, ConvertedType::NONE),
                ("nf-gcbc@sigma 0.1".to_string(), PhysicalType::BYTE_ARRAY, ConvertedType::UTF8),
                ("n".to_string(), PhysicalType::DOUBLE, ConvertedType::NONE),
            ]
        );
        let s = |x: &str| Field::Str(x.to_string());
        assert_eq!(
            rows,
            [
                vec![s("pusht"), Field::Double(0.5), s("row X, native \"quoted\""), Field::Double(2.0)],
                vec![s("cube"), Field::Null, s("plain"), Field::Null],
                vec![s("maze"), Field::Double(-125.0), Field::Null, Field::Double(3.0)],
            ]
        );
    }

    /// A header without rows is a valid empty file with the header's columns; a ragged row is an
    /// error naming the row.
    #[test]
    fn an_empty_table_has_its_columns_and_a_ragged_row_is_an_error() {
        let (columns, rows) = read_back(&from_csv(b"setting,task\n").unwrap());
        assert_eq!(columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["setting", "task"]);
        assert!(rows.is_empty());
        let err = format!("{:#}", from_csv(b"a,b\n1,2\n3\n").unwrap_err());
        assert!(err.contains("CSV row 2"), "{err}");
    }
}
