//! The README's flag tables against clap's definitions, so that neither drifts from the other.
//!
//! A table follows a line `<!-- flags: COMMAND -->`; its first column names each flag as
//! `` `--flag …` ``, its second the default. Every flag of the command (but `--help` and the
//! global `--threads`/`--quiet`, described once below the train table) has a row, every row
//! names a flag of the command, and a flag with a default value in clap shows that value.

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::cli::Cli;

    const README: &str = include_str!("../../README.md");

    /// `(command, [(flag, default cell)])` for every marked table.
    fn tables() -> Vec<(String, Vec<(String, String)>)> {
        let mut tables = Vec::new();
        let mut lines = README.lines().peekable();
        while let Some(line) = lines.next() {
            let Some(command) = line
                .trim()
                .strip_prefix("<!-- flags: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
            else {
                continue;
            };
            let mut rows = Vec::new();
            while lines
                .peek()
                .is_some_and(|l| !l.trim_start().starts_with('|'))
            {
                lines.next();
            }
            for row in lines
                .by_ref()
                .map(str::trim_start)
                .take_while(|l| l.starts_with('|'))
                .skip(2)
            {
                // `\|` inside a cell is a literal bar of the flag's values.
                let row = row.replace("\\|", "¦");
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                if cells[1].contains("(positional)") {
                    continue; // drafts and directories: described in the text
                }
                // `-o, --output <FILE>`: the long name is the flag.
                let flag = cells[1]
                    .split([' ', '`', '='])
                    .find(|word| word.starts_with("--"))
                    .unwrap_or(cells[1])
                    .to_string();
                rows.push((flag, cells[2].replace('`', "")));
            }
            tables.push((command.to_string(), rows));
        }
        tables
    }

    #[test]
    fn readme_flag_tables_match_the_command_line() {
        let cli = Cli::command();
        let tables = tables();
        let commands: Vec<&str> = tables.iter().map(|(c, _)| c.as_str()).collect();
        let mut problems = Vec::new();
        for wanted in ["train", "suggest", "eval", "learn", "index"] {
            if !commands.contains(&wanted) {
                problems.push(format!("README has no flag table for `{wanted}`"));
            }
        }
        for (command, rows) in &tables {
            let Some(sub) = cli.find_subcommand(command) else {
                problems.push(format!("README table for unknown command `{command}`"));
                continue;
            };
            let mut defined = Vec::new();
            for arg in sub.get_arguments() {
                if arg.is_hide_set() || arg.is_global_set() {
                    continue;
                }
                let Some(long) = arg.get_long() else {
                    continue; // positional: described in the text
                };
                if long == "help" {
                    continue;
                }
                let flag = format!("--{long}");
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                match rows.iter().find(|(f, _)| *f == flag) {
                    None => problems.push(format!("`dtag {command} {flag}` has no README row")),
                    Some((_, cell)) => {
                        if let Some(default) = defaults.first() {
                            if !cell.contains(default.as_str()) {
                                problems.push(format!(
                                    "`dtag {command} {flag}`: README default `{cell}`, clap `{default}`"
                                ));
                            }
                        }
                    }
                }
                defined.push(flag);
            }
            for (flag, _) in rows {
                if !defined.contains(flag) {
                    problems.push(format!(
                        "README row `{flag}` is not a flag of `dtag {command}`"
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Issue 24's flags: every command that reads documents names them `--corpus` (suggest
    /// keeps positional drafts as well) and their format `--input-format`, and every command
    /// that reports has `--json`.
    #[test]
    fn flags_mean_one_thing_everywhere() {
        let cli = Cli::command();
        let has = |command: &str, long: &str| {
            cli.find_subcommand(command)
                .unwrap_or_else(|| panic!("no `dtag {command}`"))
                .get_arguments()
                .any(|a| a.get_long() == Some(long))
        };
        let mut missing = Vec::new();
        for command in [
            "train", "eval", "cv", "convert", "merge", "learn", "suggest",
        ] {
            for flag in ["corpus", "input-format"] {
                if !has(command, flag) {
                    missing.push(format!("dtag {command} --{flag}"));
                }
            }
        }
        for command in ["train", "eval", "cv", "learn", "suggest", "merge"] {
            if !has(command, "json") {
                missing.push(format!("dtag {command} --json"));
            }
        }
        assert!(missing.is_empty(), "missing: {}", missing.join(", "));
    }
}
