using System.CommandLine;
using ImageTools.Core;
using ImageTools.FsMaker;

// fsmaker: build (the default command), plus subcommands. Each subcommand lives in its own file
// under Commands/ and is registered here; the core library does the work.
var root = new RootCommand("fsmaker: make bootable MBR disk images from a root filesystem, and build, inspect and clean filesystems");
foreach (var command in CommandRegistry.Subcommands())
{
    root.Subcommands.Add(command);
}

try
{
    return await root.Parse(args).InvokeAsync();
}
catch (ImageToolsException e)
{
    Console.Error.WriteLine($"fsmaker: {e.Message}");
    return ExitCodes.For(e.Kind);
}
