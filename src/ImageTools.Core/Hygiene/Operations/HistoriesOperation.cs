namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// histories: the shell histories of root and of every user under /home (bash, zsh, ash/sh, fish, tcsh),
/// and the other command histories that keep what was typed (python, mysql, psql, sqlite, node, less, vim's
/// viminfo), are removed.
/// </summary>
public sealed class HistoriesOperation : ScrubOperation
{
    public override string Name => "histories";

    public override string Description => "remove shell and command histories of root and of the users under /home";

    /// <summary>History files, relative to a home directory.</summary>
    public static readonly string[] Files =
    [
        ".bash_history", ".zsh_history", ".zhistory", ".histfile", ".sh_history", ".ash_history", ".history",
        ".local/share/fish/fish_history", ".config/fish/fish_history",
        ".python_history", ".mysql_history", ".psql_history", ".sqlite_history", ".node_repl_history", ".lesshst", ".viminfo",
    ];

    public override void Run(ScrubContext context)
    {
        var homes = new List<string> { "/root" };
        homes.AddRange(context.List("/home").Where(c => c.Inode.IsDirectory).Select(c => c.Path));
        foreach (var home in homes)
        {
            foreach (var file in Files)
            {
                var path = home + "/" + file;
                if (context.Lookup(path) is { IsDirectory: false })
                {
                    context.Remove(path);
                }
            }
        }
    }
}
