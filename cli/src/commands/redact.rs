//! `policyctl redact [--chunk-size N]`: stdin to stdout.

use std::io::{Read as _, Write as _};
use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context as _;
use policy_engine::redact::Redactor;

#[derive(clap::Args)]
pub struct Args {
    /// Feed the streaming redactor this many bytes at a time (cut on character
    /// boundaries); the output must equal the whole-text form.
    #[arg(long)]
    chunk_size: Option<NonZeroUsize>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("stdin is not UTF-8 text")?;
    let redactor = Redactor::builtin();
    let mut stdout = std::io::stdout().lock();
    match args.chunk_size {
        None => stdout.write_all(redactor.redact(&input).text.as_bytes())?,
        Some(size) => {
            let mut stream = redactor.stream();
            for chunk in chunks(&input, size.get()) {
                stdout.write_all(stream.push(chunk).as_bytes())?;
            }
            stdout.write_all(stream.finish().as_bytes())?;
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Pieces of at most `size` bytes, never splitting a character (a character longer than
/// `size` is a piece of its own).
fn chunks(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn chunks_respect_character_boundaries() {
        let pieces: Vec<&str> = chunks("aé€😀b", 2).collect();
        assert_eq!(pieces.concat(), "aé€😀b");
        assert!(pieces.iter().all(|p| !p.is_empty()));
        assert_eq!(pieces[0], "aé");
        assert_eq!(chunks("", 3).count(), 0);
    }
}
