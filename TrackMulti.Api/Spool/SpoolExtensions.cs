using Microsoft.Extensions.Options;

namespace TrackMulti.Api.Spool;

public static class SpoolExtensions
{
    /// <summary>
    /// The durable log and its health checks. Its hosted service is registered here, so call this before the sinks
    /// and the producers: it starts first (recovery) and stops last (after the producers' final seals).
    /// </summary>
    public static IHostApplicationBuilder AddSpool(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SpoolOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        // This replica's folder, locked before anything is written in it, for as long as the process lives.
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<SpoolOptions>>().Value;
            return SpoolFolders.LockOwn(options.ResolveDirectory(builder.Environment.ContentRootPath), options.InstanceId);
        });
        builder.Services.AddSingleton(sp => new SpoolDirectory(sp.GetRequiredService<SpoolFolderLock>().Folder));
        builder.Services.AddSingleton<SpoolLog>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SpoolLog>());
        builder.Services.AddSingleton<SpoolAdopter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SpoolAdopter>());
        builder.Services.AddSingleton<SpoolWritableCheck>(); // one instance, so its probe's cache lasts
        builder.Services.AddHealthChecks()
            .AddCheck<SpoolHealthCheck>(SpoolHealthCheck.Name, tags: [Extensions.LiveTag])
            .AddCheck<SpoolWritableCheck>(SpoolWritableCheck.Name);
        return builder;
    }
}
