using FluentAssertions;
using ImageTools.Core.Containers;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Containers;

/// <summary>
/// A fixed VHD made by qemu-img with bytes of its footer damaged at random (fixed seed), or the file cut short:
/// each copy is opened and read whole and must read, or fail with an ImageToolsException naming the file.
/// Any change inside the footer's checksummed bytes that keeps the cookie must be refused.
/// </summary>
public sealed class VhdMutationTests : IDisposable
{
    private readonly TempDirectory _dir = new("vhd-mutation-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void DamagedFooter_IsRefusedNamingTheFile_NeverAnotherException()
    {
        ExternalTools.Require("qemu-img");
        var raw = SparseFiles.Create(_dir.File("src.raw"), 4L << 20, [(0, 4096), (3 << 20, 10_000)]);
        var image = _dir.File("fixed.vhd");
        var r = ExternalTools.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", raw, image);
        r.ExitCode.Should().Be(0, r.ToString());
        var pristine = File.ReadAllBytes(image);
        var random = new Random(21);
        var damaged = _dir.File("damaged.vhd");
        var refused = 0;
        for (var i = 0; i < 200; i++)
        {
            var bytes = (byte[])pristine.Clone();
            var truncate = random.Next(10) == 0;
            var at = bytes.Length - 512 + 8 + random.Next(504); // past the cookie: the file stays a VHD
            if (truncate)
            {
                bytes = bytes[..(bytes.Length - 1 - random.Next(1 << 20))];
            }
            else
            {
                bytes[at] ^= (byte)(1 + random.Next(255));
            }
            File.WriteAllBytes(damaged, bytes);
            string? error = null;
            try
            {
                using var source = ContainerOpener.OpenAny(damaged, null, 0);
                var buffer = new byte[1 << 20];
                for (long p = 0; p < (source.Length ?? 0); p += buffer.Length)
                {
                    source.ReadFully(p, buffer);
                }
            }
            catch (ImageToolsException e)
            {
                error = e.Message;
            }
            if (!truncate)
            {
                error.Should().NotBeNull($"case {i}: byte {at} of the footer changed, so its checksum no longer matches");
            }
            if (error != null)
            {
                error.Should().Contain(damaged);
                refused++;
            }
        }
        refused.Should().BeGreaterThan(150);
    }
}
