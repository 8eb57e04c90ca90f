//! Names of destinations as every listing shows them (results, history,
//! retention plans, the metrics log and the Prometheus labels).
//!
//! Rule: a destination is named by [`config::destination_display_name`]
//! (`desktop`, `n-drive`, `onedrive`, else its folder's name) unless another
//! destination of the same set would get the same name (`D:\backups` and
//! `\\nas\backups`): then each of those is named by its whole path, so two
//! rows never look like one.

use std::path::PathBuf;

use crate::config;

/// One name per root, in order, distinct within `roots` (see the module).
pub fn destination_names(roots: &[PathBuf]) -> Vec<String> {
    let short: Vec<String> = roots.iter().map(|r| config::destination_display_name(r)).collect();
    distinct(roots, short)
}

/// `short` names where they are unique, the whole path where two clash.
fn distinct(roots: &[PathBuf], short: Vec<String>) -> Vec<String> {
    short
        .iter()
        .zip(roots)
        .map(|(name, root)| {
            let clashes = short.iter().filter(|n| n.eq_ignore_ascii_case(name)).count() > 1;
            if clashes {
                root.display().to_string()
            } else {
                name.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_last_folder_gets_the_path() {
        let roots = [PathBuf::from("/mnt/d/backups"), PathBuf::from("/net/nas/backups"), PathBuf::from("/srv/other")];
        assert_eq!(destination_names(&roots), ["/mnt/d/backups", "/net/nas/backups", "other"]);
    }

    #[test]
    fn unique_names_stay_short() {
        let roots = [PathBuf::from("/a/one"), PathBuf::from("/b/two")];
        assert_eq!(destination_names(&roots), ["one", "two"]);
        // Case-insensitive clash (Windows names).
        let roots = [PathBuf::from("/a/Backups"), PathBuf::from("/b/backups")];
        assert_eq!(destination_names(&roots), ["/a/Backups", "/b/backups"]);
    }
}
