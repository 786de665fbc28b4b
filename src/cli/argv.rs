//! Vault's single-dash flag style (`-dev`, `-config=FILE`, `-key-shares=5`) on top of clap,
//! which only knows `--long` flags. People paste these commands from Vault docs and scripts.

use std::ffi::OsString;

/// Rewrites an argv so that Vault-style long flags written with one dash become `--` flags.
///
/// Rewritten: a single dash followed by a name of two or more characters that starts with a
/// letter (`-dev`, `-config=x.hcl`, `-format=json`). Left alone: the program name, `-`, `--`
/// and everything after it, flags that already have two dashes, one-letter flags (`-h`), and
/// anything that starts like a number (`-1`, `-.5`), so negative values pass through.
///
/// A value written as a separate word after a flag is never mistaken for a flag unless it
/// itself looks like one (`-abc`); write such values as `-flag=-abc`.
pub fn vault_style<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut after_double_dash = false;
    args.into_iter()
        .map(Into::into)
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 || after_double_dash {
                return arg;
            }
            if arg == "--" {
                after_double_dash = true;
                return arg;
            }
            match arg.to_str() {
                Some(text) if is_single_dash_long_flag(text) => {
                    let mut doubled = OsString::from("-");
                    doubled.push(&arg);
                    doubled
                }
                _ => arg,
            }
        })
        .collect()
}

fn is_single_dash_long_flag(arg: &str) -> bool {
    let Some(rest) = arg.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') {
        return false;
    }
    let name = rest.split_once('=').map_or(rest, |(name, _)| name);
    name.chars().count() >= 2 && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        vault_style(args.iter().copied())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_get_a_second_dash() {
        assert_eq!(
            rewrite(&[
                "mainkey",
                "server",
                "-dev",
                "-dev-root-token-id=root",
                "-dev-listen-address=127.0.0.1:8300",
                "-config=/etc/mainkey.hcl",
            ]),
            [
                "mainkey",
                "server",
                "--dev",
                "--dev-root-token-id=root",
                "--dev-listen-address=127.0.0.1:8300",
                "--config=/etc/mainkey.hcl",
            ]
        );
        assert_eq!(
            rewrite(&[
                "mainkey",
                "operator",
                "init",
                "-key-shares=5",
                "-key-threshold",
                "3",
                "-format=json"
            ]),
            [
                "mainkey",
                "operator",
                "init",
                "--key-shares=5",
                "--key-threshold",
                "3",
                "--format=json"
            ]
        );
    }

    #[test]
    fn double_dash_flags_are_unchanged() {
        assert_eq!(
            rewrite(&["mainkey", "server", "--dev", "--config", "x.hcl"]),
            ["mainkey", "server", "--dev", "--config", "x.hcl"]
        );
    }

    #[test]
    fn short_flags_dash_and_negative_numbers_are_unchanged() {
        assert_eq!(
            rewrite(&["mainkey", "-h", "-", "-1", "-42", "-.5", "-1.5", "-V", "-h=x"]),
            ["mainkey", "-h", "-", "-1", "-42", "-.5", "-1.5", "-V", "-h=x"]
        );
    }

    #[test]
    fn values_after_a_double_dash_are_unchanged() {
        assert_eq!(
            rewrite(&["mainkey", "operator", "unseal", "-reset", "--", "-dev", "-x=1"]),
            ["mainkey", "operator", "unseal", "--reset", "--", "-dev", "-x=1"]
        );
    }

    #[test]
    fn the_program_name_and_plain_words_are_unchanged() {
        assert_eq!(
            rewrite(&["-weird-program-name", "status", "key=value", "a-b"]),
            ["-weird-program-name", "status", "key=value", "a-b"]
        );
    }

    #[test]
    fn an_equals_value_may_contain_dashes_and_equals() {
        assert_eq!(
            rewrite(&["mainkey", "-dev-root-token-id=-a=b-"]),
            ["mainkey", "--dev-root-token-id=-a=b-"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(vec![b'-', 0xff, 0xfe]);
        let out = vault_style(vec![OsString::from("mainkey"), odd.clone()]);
        assert_eq!(out, vec![OsString::from("mainkey"), odd]);
    }
}
