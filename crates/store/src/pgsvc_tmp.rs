//! TEMPORARY (branch pgsvc, until pgstore's `pg/mod.rs` lands): compiles `pg/services.rs`
//! and checks its SQL against a live PostgreSQL (`VERSA_TEST_PG`).
#![allow(dead_code)]

#[path = "pg/services.rs"]
mod services;

use crate::StoreError;

pub(crate) fn pg_err(e: postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::services as s;
    use crate::*;

    #[test]
    fn sql_runs() {
        let Ok(url) = std::env::var("VERSA_TEST_PG") else { return };
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(
                "DROP SCHEMA IF EXISTS svc CASCADE; CREATE SCHEMA svc; SET search_path = svc; \
                CREATE TABLE functions (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);",
            )
            .unwrap();
            c.batch_execute(s::SCHEMA).unwrap();
            let mut t = c.transaction().unwrap();
            let t = &mut t;
            let ms = MetricSeries {
                account: "a".into(),
                region: "r".into(),
                namespace: "n".into(),
                metric: "m".into(),
                dims: "".into(),
            };
            let p = MetricPoint { start_ms: 1, sum: 1.0, count: 1, min: 1.0, max: 1.0, sketch: vec![1] };
            s::put_metric_point(t, &ms, &p).unwrap();
            s::put_metric_point(t, &ms, &p).unwrap();
            s::put_metric_point_hr(t, &ms, &p).unwrap();
            assert_eq!(s::metric_point(t, &ms, 1).unwrap(), Some(p.clone()));
            s::metric_points(t, &ms, 0, 10).unwrap();
            s::metric_points_hr(t, &ms, 0, 10).unwrap();
            s::metric_point_hr(t, &ms, 1).unwrap();
            s::metric_series_hr(t, usize::MAX).unwrap();
            assert_eq!(s::metric_series(t, "a", "r", None, None, 10).unwrap().len(), 1);
            s::metric_series(t, "a", "r", Some("n"), Some(&ms), 10).unwrap();
            assert!(s::has_metric_series(t, &ms).unwrap());
            assert_eq!(s::metric_series_count(t).unwrap(), 1);
            s::delete_metric_points_hr_before(t, 5).unwrap();
            s::delete_metric_points_before(t, 5).unwrap();
            let a = AlarmRecord {
                account: "a".into(),
                region: "r".into(),
                name: "x".into(),
                config: "{}".into(),
                config_updated_ms: 1,
                actions_enabled: true,
                state: "OK".into(),
                reason: "r".into(),
                reason_data: None,
                state_updated_ms: 1,
                state_transitioned_ms: 1,
                next_eval_ms: 3,
            };
            s::put_alarm(t, &a).unwrap();
            s::put_alarm(t, &a).unwrap();
            s::alarm(t, "a", "r", "x").unwrap().unwrap();
            s::alarms(t, "a", "r", None, 10).unwrap();
            s::alarm_count(t, "a", "r").unwrap();
            s::alarms_due(t, 5, 10).unwrap();
            s::alarm_states(t, 10).unwrap();
            s::next_alarm_due(t).unwrap();
            s::set_alarm_due(t, "a", "r", "x", 4).unwrap();
            s::put_alarm_tags(t, "a", "r", "x", &[("k".into(), "v".into())]).unwrap();
            s::alarm_tags(t, "a", "r", "x").unwrap();
            let h = AlarmHistoryRow {
                id: 0,
                account: "a".into(),
                region: "r".into(),
                alarm_name: "x".into(),
                alarm_type: "M".into(),
                timestamp_ms: 1,
                item_type: "S".into(),
                summary: "s".into(),
                data: "{}".into(),
            };
            s::insert_alarm_history(t, &h).unwrap();
            s::alarm_history(
                t,
                "a",
                "r",
                &AlarmHistoryFilter {
                    alarm_name: Some("x".into()),
                    item_type: None,
                    from_ms: 0,
                    to_ms: 10,
                    newest_first: true,
                    after_id: None,
                },
                10,
            )
            .unwrap();
            s::trim_alarm_history(t, 0, 10, usize::MAX).unwrap();
            s::delete_alarm(t, "a", "r", "x").unwrap();
            let d = CdDeploymentRow {
                id: "d".into(),
                account: "a".into(),
                region: "r".into(),
                application: "app".into(),
                group: "g".into(),
                active: true,
                next_due_ms: None,
                create_ms: 1,
                doc: "{\"status\":\"x\"}".into(),
            };
            s::put_cd_deployment(t, &d).unwrap();
            s::put_cd_deployment(t, &d).unwrap();
            s::cd_deployment(t, "d").unwrap().unwrap();
            let q = CdDeploymentQuery {
                account: "a".into(),
                region: "r".into(),
                statuses: vec!["x".into()],
                limit: 5,
                before: Some((5, "z".into())),
                ..Default::default()
            };
            assert_eq!(s::cd_deployments_page(t, &q).unwrap().len(), 1);
            s::cd_active_deployments(t, 10).unwrap();
            s::cd_group_active(t, "a", "r", "app", "g").unwrap();
            s::cd_group_latest(t, "a", "r", "app", "g", Some("x")).unwrap();
            s::cd_deployments_shown(t, 0, 10).unwrap();
            s::put_cd_tags(t, "arn", &[("k".into(), "v".into())]).unwrap();
            s::cd_tags(t, "arn").unwrap();
            s::put_cd_object(t, "a", "r", "k", "n", "{}").unwrap();
            s::cd_object(t, "a", "r", "k", "n").unwrap();
            s::cd_objects(t, "a", "r", "k").unwrap();
            s::delete_cd_object(t, "a", "r", "k", "n").unwrap();
            s::trim_cd_deployments(t, "a", "r", "app", "g", 0).unwrap();
            let sr = ScheduleRow {
                account: "a".into(),
                region: "r".into(),
                kind: "rule".into(),
                name: "n".into(),
                doc: "{}".into(),
                next_due_ms: Some(5),
            };
            s::put_schedule_row(t, &sr).unwrap();
            s::put_schedule_row(t, &sr).unwrap();
            s::schedule_row(t, "a", "r", "rule", "n").unwrap();
            s::schedule_rows(t, "a", "r", "rule", "", None, 10).unwrap();
            s::schedule_count(t, "a", "r", "rule").unwrap();
            s::schedules_due(t, 10, 10).unwrap();
            s::next_schedule_due(t).unwrap();
            assert!(s::advance_schedule_due(t, &sr, 5, None).unwrap());
            s::delete_schedule_row(t, "a", "r", "rule", "n").unwrap();
            let api = ApigwRow {
                id: "i".into(),
                account: "a".into(),
                region: "r".into(),
                kind: "rest".into(),
                doc: "{}".into(),
            };
            s::put_apigw_api(t, &api).unwrap();
            s::put_apigw_api(t, &api).unwrap();
            s::apigw_api(t, "i").unwrap();
            s::apigw_apis(t, "a", "r", "rest", 10).unwrap();
            s::delete_apigw_api(t, "i").unwrap();
            let e = EsmRow {
                uuid: "u".into(),
                account: "a".into(),
                region: "r".into(),
                source_arn: "s".into(),
                function_arn: "f".into(),
                doc: "{}".into(),
            };
            s::put_esm(t, &e).unwrap();
            s::put_esm(t, &e).unwrap();
            s::put_esm_checkpoint(t, "u", "sh", "1").unwrap();
            s::put_esm_checkpoint(t, "u", "sh", "2").unwrap();
            s::put_esm_checkpoint(t, "gone", "sh", "2").unwrap();
            assert_eq!(s::esm_checkpoints(t, "u").unwrap(), vec![("sh".into(), "2".into())]);
            s::esm(t, "u").unwrap();
            s::esms(t, "a", "r", 10).unwrap();
            s::all_esms(t, 10).unwrap();
            s::delete_esm(t, "u").unwrap();
            let qr = SqsQueueRow {
                id: 0,
                account: "a".into(),
                region: "r".into(),
                name: "q".into(),
                created_ms: 1,
                doc: "{}".into(),
                messages: 0,
                bytes: 0,
            };
            let qid = s::sqs_insert_queue(t, &qr).unwrap();
            s::sqs_update_queue(t, qid, "{}").unwrap();
            s::sqs_queue(t, "a", "r", "q").unwrap();
            s::sqs_queue_by_id(t, qid).unwrap();
            s::sqs_queues(t, "a", "r", "", None, 10).unwrap();
            s::sqs_queue_count(t, "a", "r").unwrap();
            let m = SqsMessageRow {
                seq: 0,
                queue_id: qid,
                message_id: "m".into(),
                body: "b".into(),
                attrs: "{}".into(),
                md5_body: "x".into(),
                md5_attrs: None,
                sent_ms: 1,
                visible_ms: 1,
                expires_ms: 100,
                receive_count: 0,
                first_receive_ms: None,
                receipt: None,
                group_id: Some("g".into()),
                dedup_id: None,
                size: 1,
            };
            let seq = s::sqs_insert_message(t, &m).unwrap();
            s::sqs_put_dedup(t, qid, "k", "m", seq, 50).unwrap();
            s::sqs_put_dedup(t, qid, "k", "m", seq, 50).unwrap();
            s::sqs_dedup(t, qid, "k", 1).unwrap().unwrap();
            let mut c1 = s::sqs_candidates(t, qid, 5, true, 10).unwrap();
            s::sqs_candidates(t, qid, 5, false, 10).unwrap();
            c1[0].receive_count = 1;
            c1[0].visible_ms = 20;
            s::sqs_update_message(t, &c1[0]).unwrap();
            s::sqs_message(t, seq).unwrap();
            s::sqs_next_visible(t, qid, 5).unwrap();
            s::sqs_counts(t, qid, 5).unwrap();
            let q2 = s::sqs_insert_queue(t, &SqsQueueRow { name: "q2".into(), ..qr }).unwrap();
            s::sqs_move_message(t, seq, q2, 3).unwrap();
            s::sqs_expire(t, 1000, 10).unwrap();
            s::sqs_purge(t, qid).unwrap();
            s::sqs_delete_message(t, seq).unwrap();
            s::sqs_delete_queue(t, qid).unwrap();
            t.execute("INSERT INTO functions DEFAULT VALUES", &[]).unwrap();
            let fid: i64 = t.query_one("SELECT max(id) FROM functions", &[]).unwrap().get(0);
            let scope = model::scope::Scope {
                account: model::scope::AccountId::parse("123456789012").unwrap(),
                region: model::scope::Region::parse("us-east-1").unwrap(),
            };
            let ah = AliasHistoryRow {
                id: 0,
                function_id: model::function::FunctionId(fid),
                scope,
                function_name: "f".into(),
                alias: "a".into(),
                time_ms: 1,
                actor_kind: "K".into(),
                actor_id: "i".into(),
                operation: "o".into(),
                before: None,
                after: Some(AliasTargetRow { function_version: "1".into(), weights: vec![] }),
                revision_id: None,
            };
            s::insert_alias_history(t, &ah, 10, usize::MAX).unwrap();
            assert_eq!(s::alias_history(t, model::function::FunctionId(fid), "a", None, 10).unwrap().len(), 1);
        })
        .join()
        .unwrap();
    }
}
