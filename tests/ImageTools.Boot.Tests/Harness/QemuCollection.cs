using Xunit;

namespace ImageTools.Boot.Tests.Harness;

/// <summary>
/// Boot tests run one at a time: each QEMU (TCG) keeps a core busy, and the machines running the suite
/// are small and shared.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QemuCollection
{
    public const string Name = "QEMU boots";
}
