using System.Reflection;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.Configuration;
using TrackMulti.Api.Ingestion;
using ApiSettings = TrackMulti.AppHost.ApiSettings;

namespace TrackMulti.Tests.AppHost;

/// <summary>
/// Every setting the Api binds reaches it from the AppHost: given to the AppHost (environment, arguments or .env), it
/// is in the Api resource's environment, passed through or set by the app model itself (keys as secret parameters, the
/// emulator's endpoint, the spool folder). A new Api setting left out of <see cref="ApiSettings.PassedThrough"/> fails here.
/// </summary>
public sealed class ApiSettingsPassThroughTests
{
    /// <summary>Api settings the AppHost deliberately does not hand on, each with why. None today.</summary>
    private static readonly Dictionary<string, string> NotPassedOn = [];

    /// <summary>Every configuration key the Api's options bind (<see cref="ConfigurationKeyNameAttribute"/>).</summary>
    private static readonly string[] ApiBinds =
    [
        .. typeof(IngestionOptions).Assembly.GetTypes()
            .SelectMany(type => type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Select(property => property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name)
            .OfType<string>()
            .Distinct()
            .Order(StringComparer.Ordinal),
    ];

    [Fact]
    public async Task Every_setting_the_Api_binds_reaches_the_Api_resource_when_it_is_given_to_the_AppHost()
    {
        Assert.Contains("BATCH_SIZE", ApiBinds); // the reflection finds the options' keys at all
        // A value every setting parses, so each pass-through setting is configured and handed on.
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(
            ["PORT=", "TRACKMULTI_DOTENV=", "S3_EMULATOR=s3rver", .. ApiBinds.Select(name => $"{name}=1")]);
        var api = Assert.IsAssignableFrom<ProjectResource>(Assert.Single(builder.Resources, r => r.Name == "api"));

#pragma warning disable CS0618 // publish-time evaluation names each value without starting anything (see AppModelTests)
        var environment = await api.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618

        var missing = ApiBinds.Where(name => !environment.ContainsKey(name) && !NotPassedOn.ContainsKey(name)).ToList();
        Assert.True(missing.Count == 0, $"The AppHost does not hand these Api settings on: {string.Join(", ", missing)}. " +
            $"Add them to {nameof(ApiSettings)}.{nameof(ApiSettings.PassedThrough)}, or to {nameof(NotPassedOn)} with the reason.");
        Assert.All(ApiSettings.PassedThrough, name => Assert.Equal("1", environment[name]));
        Assert.All(NotPassedOn.Keys, name => Assert.DoesNotContain(name, environment.Keys));
    }

    [Fact]
    public void The_pass_through_list_names_only_settings_the_Api_binds()
    {
        Assert.Empty(ApiSettings.PassedThrough.Except(ApiBinds));
        Assert.Empty(NotPassedOn.Keys.Except(ApiBinds));
    }
}
