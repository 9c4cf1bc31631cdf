namespace ImageTools.Core.Hygiene;

/// <summary>
/// One named scrub operation (as virt-sysprep has them): a name for <c>--operations</c>, a one-line
/// description for <c>--list</c>, and the work, done through the <see cref="ScrubContext"/> (which plans
/// changes without writing them).
/// </summary>
public abstract class ScrubOperation
{
    /// <summary>The name used in --operations and in the report ("passwords").</summary>
    public abstract string Name { get; }

    /// <summary>What it does, in one line.</summary>
    public abstract string Description { get; }

    /// <summary>Whether it runs when no --operations list is given (all do, except remove, which runs whenever paths are given).</summary>
    public virtual bool EnabledByDefault => true;

    public abstract void Run(ScrubContext context);
}

/// <summary>Every operation, in the order a scrub runs them.</summary>
public static class ScrubOperations
{
    /// <summary>
    /// The order matters only for the report and for first-boot installation, which comes after them (see
    /// <see cref="Scrubber"/>): removals first, then the cleaning, then the account and identity resets.
    /// </summary>
    public static IReadOnlyList<ScrubOperation> All { get; } =
    [
        new Operations.RemoveOperation(),
        new Operations.TmpOperation(),
        new Operations.PackageCacheOperation(),
        new Operations.LogsOperation(),
        new Operations.LoginRecordsOperation(),
        new Operations.HistoriesOperation(),
        new Operations.SshHostKeysOperation(),
        new Operations.MachineIdOperation(),
        new Operations.RandomSeedOperation(),
        new Operations.CredentialSecretOperation(),
        new Operations.DhcpClientStateOperation(),
        new Operations.CloudInitStateOperation(),
        new Operations.UdevPersistentNetOperation(),
        new Operations.NetHwaddrOperation(),
        new Operations.CrashDataOperation(),
        new Operations.CronSpoolOperation(),
        new Operations.MailSpoolOperation(),
        new Operations.PasswordsOperation(),
        new Operations.JournalOperation(),
        new Operations.FreeSpaceOperation(),
    ];

    public static ScrubOperation? Find(string name) => All.FirstOrDefault(o => o.Name == name);
}

/// <summary>
/// Reads a virt-sysprep style selection: comma-separated names; <c>-name</c> takes one out, <c>+name</c>
/// or a bare name puts one in; <c>defaults</c> (or <c>all</c>) stands for every default operation,
/// <c>none</c> for the empty set. A list that only takes operations out starts from the defaults
/// (<c>-logs</c> = everything but logs); a list that names any operation starts from nothing
/// (<c>passwords,ssh-hostkeys</c> = those two). <c>remove</c> is added whenever paths to remove are given,
/// unless the list takes it out.
/// </summary>
public static class OperationSelection
{
    public static IReadOnlyList<ScrubOperation> Parse(string? list, bool removePathsGiven)
    {
        var selected = new HashSet<string>();
        var items = (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var onlyRemovals = items.All(i => i.StartsWith('-'));
        if (items.Length == 0 || onlyRemovals)
        {
            AddDefaults(selected);
        }
        var explicitlyRemoved = new HashSet<string>();
        foreach (var item in items)
        {
            var remove = item.StartsWith('-');
            var name = item.TrimStart('-', '+');
            if (name is "defaults" or "all" or "none")
            {
                if (remove || name == "none")
                {
                    selected.Clear();
                }
                else
                {
                    AddDefaults(selected);
                }
                continue;
            }
            if (ScrubOperations.Find(name) == null)
            {
                throw new ImageToolsException(ErrorKind.InvalidArgument,
                    $"unknown scrub operation '{name}' (known: {string.Join(", ", ScrubOperations.All.Select(o => o.Name))}; see --list)");
            }
            if (remove)
            {
                selected.Remove(name);
                explicitlyRemoved.Add(name);
            }
            else
            {
                selected.Add(name);
            }
        }
        if (removePathsGiven && !explicitlyRemoved.Contains("remove"))
        {
            selected.Add("remove");
        }
        return ScrubOperations.All.Where(o => selected.Contains(o.Name)).ToList();
    }

    private static void AddDefaults(HashSet<string> selected)
    {
        foreach (var o in ScrubOperations.All.Where(o => o.EnabledByDefault))
        {
            selected.Add(o.Name);
        }
    }
}
