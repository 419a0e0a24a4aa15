namespace TrackMulti.Tests.Infrastructure;

internal static class TestPaths
{
    /// <summary>The repository root: the folder holding TrackMulti.sln above the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The build configuration the tests were built in (Debug, Release), so child processes match it.</summary>
    public static string Configuration { get; } =
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    public static string ApiAssembly { get; } =
        Path.Combine(RepositoryRoot, "TrackMulti.Api", "bin", Configuration, "net10.0", "TrackMulti.Api.dll");

    public static string WebAssembly { get; } =
        Path.Combine(RepositoryRoot, "TrackMulti.Web", "bin", Configuration, "net10.0", "TrackMulti.Web.dll");

    public static string AppHostAssembly { get; } =
        Path.Combine(RepositoryRoot, "TrackMulti.AppHost", "bin", Configuration, "net10.0", "TrackMulti.AppHost.dll");

    /// <summary>s3rver as the AppHost build installs it (npm ci from the AppHost's lock file).</summary>
    public static string S3rverScript { get; } =
        Path.Combine(RepositoryRoot, "TrackMulti.AppHost", "node_modules", "s3rver", "bin", "s3rver.js");

    /// <summary>The OpenAPI linter (Redocly CLI) as the test project's build installs it (npm ci from its lock file).</summary>
    public static string RedoclyScript { get; } =
        Path.Combine(RepositoryRoot, "TrackMulti.Tests", "node_modules", "@redocly", "cli", "bin", "cli.js");

    /// <summary>The linter's configuration: its recommended rules.</summary>
    public static string RedoclyConfig { get; } = Path.Combine(RepositoryRoot, "TrackMulti.Tests", "redocly.yaml");

    public static string NewTemporaryDirectory(string purpose)
    {
        var path = Path.Combine(Path.GetTempPath(), "trackmulti-tests", $"{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TrackMulti.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No TrackMulti.sln above {AppContext.BaseDirectory}.");
    }
}
