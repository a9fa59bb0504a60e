//! The one font all chart text is laid out and rasterised with, found on disk at run time.
//!
//! plotters' `ab_glyph` feature draws text only with fonts registered through
//! `plotters::style::register_font`, which wants `'static` bytes; the file is
//! read once, leaked, and registered under the family name the charts use.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::PlotError;

/// Environment variable naming a `.ttf`/`.otf` file to use instead of a system font.
pub const FONT_ENV: &str = "FAIRSHARE_FONT";

/// Font family name every chart asks plotters for.
pub(crate) const FAMILY: &str = "sans-serif";

/// System fonts tried, in order, when `FAIRSHARE_FONT` is not set.
const SYSTEM_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Directory scanned for any `*.ttf` when none of `SYSTEM_FONTS` is usable.
const SCAN_ROOT: &str = "/usr/share/fonts";

/// Subdirectory depth the last-resort scan descends to.
const SCAN_MAX_DEPTH: usize = 4;

static REGISTERED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Finds and registers the chart font once per process, returning the file it came from.
///
/// Call it early to fail fast (and log which font is used); `render` calls it anyway.
pub fn ensure_font() -> Result<&'static Path, PlotError> {
    let outcome = REGISTERED.get_or_init(|| {
        let env = std::env::var_os(FONT_ENV).map(PathBuf::from);
        let fixed: Vec<&Path> = SYSTEM_FONTS.iter().map(Path::new).collect();
        find_font(env.as_deref(), &fixed, Path::new(SCAN_ROOT), register)
    });
    match outcome {
        Ok(path) => Ok(path.as_path()),
        Err(message) => Err(PlotError::Font(message.clone())),
    }
}

/// Reads `path` and registers it as the chart font; false if it is unreadable or not a font.
fn register(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    if !looks_like_font(&bytes) {
        return false;
    }
    // Leaked on purpose: plotters keeps `&'static` font bytes for the whole
    // process, and `REGISTERED` guarantees at most one successful registration.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
}

/// True if `bytes` start with a TrueType, OpenType or font-collection tag.
fn looks_like_font(bytes: &[u8]) -> bool {
    matches!(
        bytes.get(..4),
        Some([0, 1, 0, 0]) | Some(b"true") | Some(b"OTTO") | Some(b"ttcf")
    )
}

/// Tries the explicit font, else the fixed list, else a scan of `scan_root`; `accept` loads one.
///
/// An explicit font that fails is an error rather than a silent fallback: the
/// user asked for it by name.
fn find_font(
    explicit: Option<&Path>,
    fixed: &[&Path],
    scan_root: &Path,
    mut accept: impl FnMut(&Path) -> bool,
) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return if accept(path) {
            Ok(path.to_path_buf())
        } else {
            Err(format!(
                "{FONT_ENV}={} is not a readable TrueType/OpenType font file; \
                 point it at a .ttf (e.g. DejaVuSans.ttf) or unset it to use a system font",
                path.display()
            ))
        };
    }
    if let Some(path) = fixed.iter().find(|p| accept(p)) {
        return Ok(path.to_path_buf());
    }
    let mut scanned = Vec::new();
    collect_ttf(scan_root, SCAN_MAX_DEPTH, &mut scanned);
    scanned.sort();
    if let Some(path) = scanned.into_iter().find(|p| accept(p)) {
        return Ok(path);
    }
    Err(format!(
        "no font found for chart text (tried {} and every *.ttf under {}); \
         install Debian's `fonts-dejavu-core` or set {FONT_ENV} to a .ttf file",
        fixed
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        scan_root.display()
    ))
}

/// Appends every `*.ttf` under `dir` (down to `depth` levels) to `out`; unreadable dirs are skipped.
fn collect_ttf(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                collect_ttf(&path, depth - 1, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("ttf"))
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_font_that_fails_is_an_error_naming_the_variable() {
        let err = find_font(
            Some(Path::new("/nope/x.ttf")),
            &[],
            Path::new("/nope"),
            |_| false,
        )
        .unwrap_err();
        assert!(
            err.contains(FONT_ENV) && err.contains("/nope/x.ttf"),
            "{err}"
        );
    }

    #[test]
    fn explicit_font_wins_over_system_fonts() {
        let mut tried = Vec::new();
        let found = find_font(
            Some(Path::new("/mine.ttf")),
            &[Path::new("/sys.ttf")],
            Path::new("/nope"),
            |p| {
                tried.push(p.to_path_buf());
                true
            },
        )
        .unwrap();
        assert_eq!(found, PathBuf::from("/mine.ttf"));
        assert_eq!(tried, vec![PathBuf::from("/mine.ttf")]);
    }

    #[test]
    fn fixed_list_is_tried_in_order_then_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("Z.TTF"), b"x").unwrap();
        std::fs::write(nested.join("readme.txt"), b"x").unwrap();
        let mut tried = Vec::new();
        let found = find_font(
            None,
            &[Path::new("/first.ttf"), Path::new("/second.ttf")],
            dir.path(),
            |p| {
                tried.push(p.to_path_buf());
                p.ends_with("Z.TTF")
            },
        )
        .unwrap();
        assert_eq!(found, nested.join("Z.TTF"));
        assert_eq!(
            tried,
            vec![
                PathBuf::from("/first.ttf"),
                PathBuf::from("/second.ttf"),
                nested.join("Z.TTF")
            ]
        );
    }

    #[test]
    fn no_font_anywhere_says_what_to_install() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_font(None, &[Path::new("/first.ttf")], dir.path(), |_| false).unwrap_err();
        assert!(
            err.contains("fonts-dejavu-core") && err.contains(FONT_ENV),
            "{err}"
        );
    }

    #[test]
    fn only_font_magic_numbers_are_accepted() {
        assert!(looks_like_font(&[0, 1, 0, 0, 9]));
        assert!(looks_like_font(b"OTTO...."));
        assert!(!looks_like_font(b"<svg"));
        assert!(!looks_like_font(b"ab"));
    }
}
