namespace ImageTools.Core.Boot;

/// <summary>Which of GRUB's module files go to the boot partition.</summary>
public enum GrubModuleSet
{
    /// <summary>
    /// Every *.mod and *.lst of the platform directory, as grub-install copies them (about 1.9 MB):
    /// anything can be loaded later from the GRUB prompt (insmod lvm, ls, cat ...) and the *.lst files
    /// let GRUB load commands and filesystems on demand.
    /// </summary>
    All,

    /// <summary>
    /// Only <c>normal</c> and the modules grub.cfg loads, with their dependencies from moddep.lst
    /// (about 0.3 MB), plus the *.lst files. Enough to boot the menu's kernels, nothing more.
    /// </summary>
    Minimal,
}

/// <summary>A file to put into the boot partition's GRUB directory.</summary>
/// <param name="RelativePath">Path under the GRUB directory (the prefix's directory), e.g. <c>i386-pc/normal.mod</c>.</param>
/// <param name="SourcePath">Where to read it.</param>
public sealed record GrubBootFile(string RelativePath, string SourcePath);

/// <summary>Chooses the module files that go to <c>$prefix/i386-pc/</c> on the boot partition.</summary>
public static class GrubBootFiles
{
    /// <summary>The platform subdirectory GRUB loads modules from: <c>$prefix/i386-pc/NAME.mod</c>.</summary>
    public const string PlatformSubdirectory = "i386-pc";

    /// <summary>Loaded by the kernel once core.img has set the prefix; it reads grub.cfg.</summary>
    public const string NormalModule = "normal";

    /// <param name="grub">The platform directory.</param>
    /// <param name="set">All modules, or the minimal set.</param>
    /// <param name="configModules">The modules grub.cfg loads (<see cref="GrubConfigWriter.ModulesUsed"/>); used by the minimal set.</param>
    public static IReadOnlyList<GrubBootFile> Select(GrubPlatformDirectory grub, GrubModuleSet set, IEnumerable<string> configModules)
    {
        IEnumerable<string> modules = set switch
        {
            GrubModuleSet.All => grub.ListModules(),
            GrubModuleSet.Minimal => grub.Dependencies.Resolve(configModules.Prepend(NormalModule)).Order(StringComparer.Ordinal),
            _ => throw new ArgumentOutOfRangeException(nameof(set)),
        };
        var files = new List<GrubBootFile>();
        foreach (var module in modules)
        {
            var source = grub.ModulePath(module);
            if (!File.Exists(source))
            {
                throw new ImageToolsException(ErrorKind.MissingResource,
                    $"GRUB platform directory {grub.DirectoryPath} ({grub.Origin}) has no module {module}.mod. {GrubPlatformDirectory.InstallHint}") { Path = source };
            }
            files.Add(new GrubBootFile($"{PlatformSubdirectory}/{module}.mod", source));
        }
        foreach (var list in grub.ListListFiles())
        {
            files.Add(new GrubBootFile($"{PlatformSubdirectory}/{list}", Path.Combine(grub.DirectoryPath, list)));
        }
        return files;
    }
}
