using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging;
using ImageTools.Core.Imaging.Export;

namespace ImageTools.Core.Tests.Ext.Reader;

/// <summary>
/// A sink that throws everything away but still reads it: every data range of every file, so a
/// "full export" to it exercises exactly what a real export reads (holes are not materialised).
/// </summary>
internal sealed class NullExportSink : IExportSink
{
    private readonly byte[] _buffer = new byte[64 * 1024];

    public long Entries { get; private set; }

    public long DataBytes { get; private set; }

    public bool Completed { get; private set; }

    public void Add(ExportEntry entry)
    {
        Entries++;
        if (entry.Content is not { } content)
        {
            return;
        }
        using var stream = content.OpenRead();
        foreach (var (offset, length) in content.DataRanges())
        {
            stream.Position = offset;
            var left = length;
            while (left > 0)
            {
                var n = stream.Read(_buffer, 0, (int)Math.Min(_buffer.Length, left));
                if (n == 0)
                {
                    throw new InvalidOperationException($"{entry.Path}: content ended at {stream.Position}, inside a data range ending at {offset + length}");
                }
                left -= n;
                DataBytes += n;
            }
        }
    }

    public void Complete() => Completed = true;
}

/// <summary>
/// The promise every input must keep: open, inspect and export either succeed or fail with an
/// <see cref="ImageToolsException"/> whose message names the input, within a time bound, without any
/// other exception type and without allocating out of proportion.
/// </summary>
internal static class Robustness
{
    /// <summary>What happened to one input.</summary>
    public sealed record Outcome(string Name, string Stage, string? Error, long Entries, TimeSpan Elapsed, long AllocatedBytes)
    {
        public override string ToString() => Error == null
            ? $"{Name}: read {Entries} entries in {Elapsed.TotalMilliseconds:F0} ms"
            : $"{Name}: refused at {Stage} in {Elapsed.TotalMilliseconds:F0} ms: {Error}";
    }

    /// <summary>
    /// Opens <paramref name="image"/> as an ext filesystem and exports all of it to a null sink, first
    /// stopping at the first damage, then keeping going past it. Runs on its own thread with a time
    /// bound; returns how it went, or throws <see cref="RobustnessViolation"/> if the promise is broken.
    /// </summary>
    public static Outcome Check(Func<Stream> open, string name, TimeSpan bound, ExtOpenOptions? options = null)
    {
        Outcome? outcome = null;
        Exception? broken = null;
        var thread = new Thread(() =>
        {
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var stage = "open";
            long entries = 0;
            try
            {
                using var stream = open();
                stage = "inspect";
                ContentReport report;
                try
                {
                    report = ImageInspector.InspectContent(stream, name);
                }
                catch (ImageToolsException e)
                {
                    // Inspection describes what it finds, damage included; it has no reason to fail on content.
                    throw new RobustnessViolation($"{name}: inspect failed instead of describing the damage: {e.Message}", e);
                }
                if (report.Formats.Count == 0 && report.Unrecognised == null)
                {
                    throw new RobustnessViolation($"{name}: inspect found nothing and did not say the bytes are unrecognised");
                }
                _ = ImageReportFormatter.ToText(new ImageReport { Path = name, SizeBytes = stream.Length, Content = report });
                stage = "open";
                using (var fs = ExtFileSystem.Open(stream, name, options))
                {
                    stage = "export (keep going)";
                    var lenient = new NullExportSink();
                    var summary = ExtExporter.Export(fs, lenient, new ExtExportOptions { KeepGoing = true });
                    entries = summary.Entries;
                    stage = "export";
                    ExtExporter.Export(fs, new NullExportSink());
                }
                outcome = new Outcome(name, "done", null, entries, clock.Elapsed, GC.GetAllocatedBytesForCurrentThread() - allocatedBefore);
            }
            catch (ImageToolsException e)
            {
                if (string.IsNullOrWhiteSpace(e.Message) || !e.Message.Contains(name, StringComparison.Ordinal))
                {
                    broken = new RobustnessViolation($"{name}: {stage}: the error does not name the input: '{e.Message}'", e);
                    return;
                }
                outcome = new Outcome(name, stage, $"[{e.Kind}] {e.Message}", entries, clock.Elapsed, GC.GetAllocatedBytesForCurrentThread() - allocatedBefore);
            }
            catch (RobustnessViolation e)
            {
                broken = e;
            }
            catch (Exception e)
            {
                broken = new RobustnessViolation($"{name}: {stage}: {e.GetType().Name} instead of an ImageToolsException: {e.Message}", e);
            }
        }, maxStackSize: 1024 * 1024)
        { IsBackground = true, Name = "robustness " + name };
        thread.Start();
        if (!thread.Join(bound))
        {
            throw new RobustnessViolation($"{name}: did not finish within {bound.TotalSeconds} s (a hang or a loop)");
        }
        if (broken != null)
        {
            throw broken;
        }
        var result = outcome!;
        const long allocationBound = 1L << 30;
        if (result.AllocatedBytes > allocationBound)
        {
            throw new RobustnessViolation($"{name}: allocated {result.AllocatedBytes / (1 << 20)} MiB reading it (bound {allocationBound >> 20} MiB)");
        }
        return result;
    }
}

/// <summary>The robustness promise was broken (a crash, a hang, a non-diagnosing error).</summary>
internal sealed class RobustnessViolation(string message, Exception? inner = null) : Exception(message, inner);
