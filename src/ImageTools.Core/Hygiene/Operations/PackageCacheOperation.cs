namespace ImageTools.Core.Hygiene.Operations;

/// <summary>
/// package-cache: downloaded packages and package-manager caches, which a server rebuilds on demand: the
/// files under /var/cache/apt (archives/*.deb, archives/partial, pkgcache.bin, srcpkgcache.bin), /var/cache/dnf,
/// /var/cache/yum, /var/cache/zypp and /var/cache/apk are removed; their directories stay (apt expects
/// archives/partial to exist). /var/lib/apt/lists (the package index) is not a cache and stays.
/// </summary>
public sealed class PackageCacheOperation : ScrubOperation
{
    public override string Name => "package-cache";

    public override string Description => "remove the apt, dnf, yum, zypper and apk package caches under /var/cache (directories kept)";

    private static readonly string[] Caches = ["/var/cache/apt", "/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp", "/var/cache/apk"];

    public override void Run(ScrubContext context)
    {
        foreach (var cache in Caches)
        {
            foreach (var (path, inode) in context.Walk(cache).ToList())
            {
                if (!inode.IsDirectory)
                {
                    context.Remove(path);
                }
            }
        }
    }
}
