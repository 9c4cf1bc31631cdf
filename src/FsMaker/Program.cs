using System.CommandLine;
using ImageTools.Core;
using ImageTools.FsMaker;

// fsmaker: build (the default command), plus subcommands. Each subcommand lives in its own file
// under Commands/ and is registered here; the core library does the work.
var root = new RootCommand("fsmaker: make bootable MBR disk images from a root filesystem, and build, inspect and clean filesystems");
// The default command: fsmaker [options] ROOTIMAGE OUTPUTIMAGE, next to the subcommands (a first word that names
// a subcommand selects it; anything else is ROOTIMAGE).
ImageTools.FsMaker.Commands.BuildCommand.AddTo(root);
foreach (var command in CommandRegistry.Subcommands())
{
    root.Subcommands.Add(command);
}

try
{
    // Our own handler below maps ImageToolsException to a documented exit code; System.CommandLine's
    // default handler would print a stack trace and exit 1 instead.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (ImageToolsException e)
{
    Console.Error.WriteLine($"fsmaker: {e.Message}");
    return ExitCodes.For(e.Kind);
}
