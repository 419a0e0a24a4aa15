using System.Net;
using System.Net.Sockets;

namespace TrackMulti.AppHost;

/// <summary>
/// A second <c>dotnet run</c> while one runs would end in a stack trace about a bound port: say plainly that another
/// instance (or another program) holds the stack's fixed ports, and stop before starting anything.
/// </summary>
public static class PortsInUse
{
    /// <summary>The addresses set in the launch profile or the environment, and the page's and the emulator's ports.</summary>
    public static IReadOnlyList<(string What, int Port)> FixedPorts(IConfiguration configuration, AppHostSettings settings)
    {
        var ports = new List<(string, int)>();
        foreach (var (what, name) in new[]
                 {
                     ("the dashboard", "ASPNETCORE_URLS"),
                     ("the dashboard's OTLP endpoint", "ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"),
                     ("the AppHost's resource service", "ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"),
                 })
        {
            foreach (var url in (configuration[name] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Port > 0)
                {
                    ports.Add((what, uri.Port));
                }
            }
        }
        if (settings.WebPort is { } web)
        {
            ports.Add(("the page, PORT", web));
        }
        if (settings.Emulator is not S3EmulatorMode.None)
        {
            ports.Add(("the S3 emulator, S3_EMULATOR_PORT", settings.S3EmulatorPort));
        }
        return ports;
    }

    /// <summary>Those of <paramref name="ports"/> that something on this machine is listening on.</summary>
    public static IReadOnlyList<(string What, int Port)> Taken(IEnumerable<(string What, int Port)> ports) =>
        [.. ports.Where(p => !CanListen(p.Port))];

    public static string Describe(IReadOnlyList<(string What, int Port)> taken) =>
        $"TrackMulti cannot start: {string.Join(", ", taken.Select(p => $"port {p.Port} ({p.What})"))} " +
        $"{(taken.Count == 1 ? "is" : "are")} in use. Another TrackMulti is probably running (stop it with Ctrl+C where it " +
        "runs), or another program holds it: free it, or give the stack other ports (PORT, S3_EMULATOR_PORT; the " +
        "dashboard's in TrackMulti.AppHost/Properties/launchSettings.json).";

    private static bool CanListen(int port)
    {
        try
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            listener.Listen();
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
        {
            return false;
        }
    }
}
