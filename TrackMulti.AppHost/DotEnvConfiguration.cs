using Microsoft.Extensions.Configuration.Memory;

namespace TrackMulti.AppHost;

public static class DotEnvConfiguration
{
    /// <summary>
    /// The .env file to read: <c>TRACKMULTI_DOTENV</c> when given (empty: none, which is what tests use so a
    /// developer's own .env cannot change them), else <c>.env</c> at the repository root.
    /// </summary>
    public static string? PathFrom(IConfiguration configuration, string repositoryRoot) =>
        configuration["TRACKMULTI_DOTENV"] is { } configured
            ? (configured.Length == 0 ? null : Path.GetFullPath(configured, repositoryRoot))
            : Path.Combine(repositoryRoot, ".env");

    /// <summary>
    /// Reads the seed's <c>.env</c> file, if there is one, as the lowest-precedence configuration source:
    /// real environment variables and command-line arguments still win. The process environment is left untouched,
    /// so nothing in <c>.env</c> leaks into child processes except what the app model passes on.
    /// </summary>
    public static void AddDotEnvFile(this IConfigurationBuilder configuration, string? path)
    {
        if (path is null || !File.Exists(path))
        {
            return;
        }

        // Later lines win, as they would when a shell sources the file.
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in DotNetEnv.Env.NoEnvVars().Load(path))
        {
            values[key] = value;
        }
        configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = values });
    }
}
