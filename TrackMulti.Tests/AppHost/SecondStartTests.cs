using System.Net;
using System.Net.Sockets;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.AppHost;

/// <summary>A second start while the stack runs (or while another program holds one of its ports) says so and stops.</summary>
public sealed class SecondStartTests
{
    [Fact]
    public async Task A_start_whose_fixed_port_is_held_names_the_port_says_another_instance_may_hold_it_and_exits_without_a_stack_trace()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0); // what the first instance's AppHost holds
        holder.Start();
        var held = ((IPEndPoint)holder.LocalEndpoint).Port;
        var environment = new Dictionary<string, string?>
        {
            // The launch profile's addresses, as `dotnet run` sets them; only the resource service's port is taken.
            ["ASPNETCORE_URLS"] = $"http://localhost:{ChildProcess.FreeTcpPort()}",
            ["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://localhost:{ChildProcess.FreeTcpPort()}",
            ["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://localhost:{held}",
            ["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["PORT"] = ChildProcess.FreeTcpPort().ToString(),
            ["S3_EMULATOR"] = "s3rver",
            ["S3_EMULATOR_PORT"] = ChildProcess.FreeTcpPort().ToString(),
            ["TRACKMULTI_DOTENV"] = "",
        };

        await using var second = ChildProcess.Start("dotnet", [TestPaths.AppHostAssembly], environment, TestPaths.RepositoryRoot);
        var exitCode = await second.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exitCode);
        Assert.Contains($"port {held} (the AppHost's resource service) is in use", second.Output);
        Assert.Contains("Another TrackMulti is probably running", second.Output);
        Assert.DoesNotContain("   at ", second.Output);
    }
}
