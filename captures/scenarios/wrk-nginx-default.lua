-- wrk script for scenario wrk-nginx-default (wrk -s wrk-nginx-default.lua ...).
-- Throttle: wrk waits delay() milliseconds before sending each request, so each of the
-- 2 connections makes at most ~1000 requests/s instead of as many as the CPU allows;
-- this keeps the capture small while still passing nginx's 1000-request limit.
function delay()
   return 1
end
