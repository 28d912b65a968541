//! Dotenv files as `vercel env pull` writes them (`KEY="value"`, `\n` and `\"` escaped, `#`
//! comments), read into a lookup for `atoms check-env --env-file` and `atoms migrate --env-file`:
//! a deployment's environment checked without ever entering this process's own environment or
//! being printed. Errors name the line number, never its value.

use std::collections::HashMap;
use std::path::Path;

/// The variables of one env file.
pub struct EnvFile(HashMap<String, String>);

impl EnvFile {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the env file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|line| format!("{}: line {line} is not KEY=VALUE", path.display()))
    }

    /// Parses the file's text; `Err` holds the 1-based number of the first malformed line.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let mut vars = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, raw) = line.split_once('=').ok_or(index + 1)?;
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(index + 1);
            }
            vars.insert(key.to_owned(), unquote(raw.trim()).ok_or(index + 1)?);
        }
        Ok(Self(vars))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// `"a\nb"` → `a` newline `b`; `'raw'` → `raw`; bare values as they are.
fn unquote(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                other => out.push(other),
            }
        }
        Some(out)
    } else if let Some(inner) = raw.strip_prefix('\'') {
        inner.strip_suffix('\'').map(str::to_owned)
    } else {
        Some(raw.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::EnvFile;

    #[test]
    fn vercel_env_pull_output_is_read() {
        let file = EnvFile::parse(
            "# Created by Vercel CLI\nVERCEL=\"1\"\nVERCEL_ENV=\"production\"\nVERCEL_URL=\"\"\n\
             DATABASE_URL=\"postgres://u:p@h/db\"\nKEY=\"line\\nnext \\\"q\\\"\"\nexport BARE=x=y\nSINGLE='a b'\n",
        )
        .expect("parses");
        assert_eq!(file.get("VERCEL_ENV").as_deref(), Some("production"));
        assert_eq!(file.get("VERCEL_URL"), None, "empty is unset");
        assert_eq!(file.get("KEY").as_deref(), Some("line\nnext \"q\""));
        assert_eq!(file.get("BARE").as_deref(), Some("x=y"));
        assert_eq!(file.get("SINGLE").as_deref(), Some("a b"));
        assert_eq!(EnvFile::parse("A=1\nnot a line\n").err(), Some(2));
        assert_eq!(EnvFile::parse("A=\"unterminated\n").err(), Some(1));
    }
}
